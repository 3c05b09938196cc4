#include "app/config_reload.hpp"

#include "config/config_loader.hpp"

#include <algorithm>

namespace ksid::daemon {

namespace {

// What start-up bound, opened or chose once.
constexpr std::string_view restart_only[] = {
    "daemon.socket",     "daemon.pid_file",   "daemon.log_file",  "daemon.socket_mode",
    "facade.enabled",    "facade.host",       "facade.port",      "api_shim.enabled",
    "api_shim.provider", "api_shim.base_url", "api_shim.ca_file", "api_shim.connect_timeout",
    "pool.enabled",      "pool.prestart",     "queue.broker",     "queue.broker_prefix",
    "queue.visibility_timeout", "queue.max_deliveries", "queue.worker_name",
};

} // namespace

bool needs_restart(std::string_view path) {
    return std::find(std::begin(restart_only), std::end(restart_only), path) != std::end(restart_only);
}

ReloadPlan plan_reload(const config::Config& running, const config::Config& loaded) {
    ReloadPlan plan{loaded, {}, {}};
    auto& n = plan.next;
    // The running values of what needs a restart, field by field (the list above).
    n.daemon.socket_path = running.daemon.socket_path;
    n.daemon.pid_file = running.daemon.pid_file;
    n.daemon.log_file = running.daemon.log_file;
    n.daemon.socket_mode = running.daemon.socket_mode;
    n.facade.enabled = running.facade.enabled;
    n.facade.host = running.facade.host;
    n.facade.port = running.facade.port;
    n.api_shim.enabled = running.api_shim.enabled;
    n.api_shim.provider = running.api_shim.provider;
    n.api_shim.base_url = running.api_shim.base_url;
    n.api_shim.ca_file = running.api_shim.ca_file;
    n.api_shim.connect_timeout = running.api_shim.connect_timeout;
    n.pool.enabled = running.pool.enabled;
    n.pool.prestart = running.pool.prestart;
    n.queue.broker = running.queue.broker;
    n.queue.broker_prefix = running.queue.broker_prefix;
    n.queue.visibility_timeout = running.queue.visibility_timeout;
    n.queue.max_deliveries = running.queue.max_deliveries;
    n.queue.worker_name = running.queue.worker_name;
    for (auto& path : config::changed_settings(running, loaded))
        (needs_restart(path) ? plan.need_restart : plan.applied).push_back(std::move(path));
    return plan;
}

} // namespace ksid::daemon
