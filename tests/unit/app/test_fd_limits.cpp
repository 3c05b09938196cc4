// Connection caps kept below the file descriptor limit (app/fd_limits).
#include "app/fd_limits.hpp"

#include <doctest/doctest.h>

using namespace ksid;
using ksid::daemon::fit_connections_to_fds;

TEST_CASE("connection caps that fit the descriptors are left alone") {
    config::Config cfg;
    cfg.facade.enabled = true;
    CHECK_FALSE(fit_connections_to_fds(cfg, 1 << 20, 10).has_value());
    CHECK(cfg.daemon.max_connections == 10000);
    CHECK(cfg.facade.max_connections == 1024);
}

TEST_CASE("under ulimit -n 1024 the caps leave a quarter (at least 64) for children and files") {
    config::Config cfg;
    auto warning = fit_connections_to_fds(cfg, 1024, 14); // facade off: the socket gets all the room
    REQUIRE(warning.has_value());
    CHECK(cfg.daemon.max_connections == 1010 - 1010 / 4);
    CHECK(warning->find("daemon.max_connections 10000 → 758") != std::string::npos);
    CHECK(warning->find("facade") == std::string::npos);

    config::Config both;
    both.facade.enabled = true;
    REQUIRE(fit_connections_to_fds(both, 256, 10).has_value());
    CHECK(both.daemon.max_connections + both.facade.max_connections == 246 - 64);
    CHECK(both.daemon.max_connections == 91);
    CHECK(both.facade.max_connections == 91);

    config::Config small_facade; // what one side does not need goes to the other
    small_facade.facade.enabled = true;
    small_facade.facade.max_connections = 10;
    REQUIRE(fit_connections_to_fds(small_facade, 256, 10).has_value());
    CHECK(small_facade.facade.max_connections == 10);
    CHECK(small_facade.daemon.max_connections == 172);
}

TEST_CASE("a limit below what is open still leaves each transport a connection") {
    config::Config cfg;
    cfg.facade.enabled = true;
    REQUIRE(fit_connections_to_fds(cfg, 8, 20).has_value());
    CHECK(cfg.daemon.max_connections >= 1);
    CHECK(cfg.facade.max_connections >= 1);
}
