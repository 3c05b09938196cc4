#include "app/config_reload.hpp"

#include <doctest/doctest.h>

using namespace ksid;

TEST_CASE("SIGHUP plan: live settings apply, bound ones keep their running values") {
    config::Config running;
    config::Config loaded = running;
    loaded.queue.max_concurrent = 9;
    loaded.models.available = {"sonnet"};
    loaded.daemon.log_level = "debug";
    loaded.facade.api_keys = {"k-12345678"};
    loaded.daemon.socket_path = "sockets/elsewhere.sock";
    loaded.facade.port = 9001;
    loaded.api_shim.enabled = true;
    loaded.pool.enabled = true;
    const auto plan = daemon::plan_reload(running, loaded);
    CHECK(plan.next.queue.max_concurrent == 9);
    CHECK(plan.next.models.available == std::vector<std::string>{"sonnet"});
    CHECK(plan.next.daemon.log_level == "debug");
    CHECK(plan.next.facade.api_keys == std::vector<std::string>{"k-12345678"});
    CHECK(plan.next.daemon.socket_path == running.daemon.socket_path);
    CHECK(plan.next.facade.port == running.facade.port);
    CHECK(plan.next.api_shim.enabled == running.api_shim.enabled);
    CHECK(plan.next.pool.enabled == running.pool.enabled);
    CHECK(plan.applied == std::vector<std::string>{"models.available", "daemon.log_level",
                                                   "queue.max_concurrent", "facade.api_keys"});
    CHECK(plan.need_restart ==
          std::vector<std::string>{"api_shim.enabled", "daemon.socket", "facade.port", "pool.enabled"});
    CHECK(daemon::needs_restart("daemon.pid_file"));
    CHECK_FALSE(daemon::needs_restart("queue.run_time_limit"));
}

TEST_CASE("SIGHUP plan: nothing changed, nothing to report") {
    const config::Config c;
    const auto plan = daemon::plan_reload(c, c);
    CHECK(plan.applied.empty());
    CHECK(plan.need_restart.empty());
}
