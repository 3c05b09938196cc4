#pragma once
// Wires the daemon together: start-up in the working directory (spec §2.2), the event loop, and the
// shutdown sequence (spec §2.4 with the Recommended fixes).
#include "app/daemon_upgrade.hpp"
#include "config/config.hpp"
#include "daemon/core/service_notify.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

class TurnService;
class UsageGovernor;
class WarmPool;
class Lifecycle;
struct UpstreamStats;

// SIGHUP, for an extension: checks the configuration the daemon is about to run with and returns what
// applies it, or an error text that stops the whole reload (nothing changes anywhere).
using ReloadCommit = std::function<void()>;
using ReloadHook =
    std::function<boost::system::result<ReloadCommit, std::string>(const config::Config& next)>;

// What an extension (the HTTP facade) gets to build on. The daemon does not depend on its extensions.
struct DaemonServices {
    boost::asio::any_io_executor executor;
    const config::Config& config;
    TurnService& turns;
    Lifecycle& lifecycle;
    std::shared_ptr<spdlog::logger> log;
    const UpstreamStats* upstream = nullptr; // the API shim's counters, when it is the backend
    const WarmPool* pool = nullptr;          // the warm processes, when they are the backend
    std::function<void(ReloadHook)> on_reload;
    int facade_fd = -1; // socket activation or RELOAD_DAEMON: the facade's listening socket
    // RELOAD_DAEMON: the extension's listening descriptor (the new daemon inherits it) and what to do once
    // the new daemon serves (stop accepting; what is in flight finishes here).
    std::function<void(std::function<int()> listener_fd, std::function<void()> hand_over)> on_upgrade;
    std::vector<std::string> serving; // what the extensions serve ("http://..."), for the status line
    UsageGovernor* usage = nullptr;   // tenants, limits, the usage ledger
    // The agents and the bus, for the dashboard: {"agents": [...], "bus": {...}}.
    std::function<boost::json::object()> daemon_state;
};
// Starts an extension once the socket listens; an error text aborts the start-up.
using DaemonExtension = std::function<std::optional<std::string>(DaemonServices&)>;

struct DaemonOptions {
    config::Config config;
    bool skip_collision_detection = false; // --hot-reload-from
    // SIGHUP: the configuration read again from the same file, environment and command line, or why it
    // cannot be used. Unset: SIGHUP is ignored.
    std::function<boost::system::result<config::Config, std::string>()> reload_config;
    std::vector<DaemonExtension> extensions;
    ServiceEnvironment service; // what systemd passed (notify socket, watchdog, LISTEN_FDS), if anything
    // RELOAD_DAEMON: the binary ksid was started from and its argv, to start the new daemon the same way.
    std::string executable;
    std::vector<std::string> argv;
    // Started by RELOAD_DAEMON: what the old daemon passed (take_upgrade_environment), or why it is unusable.
    std::optional<InheritedUpgrade> inherited;
    std::string upgrade_problem;
};

// Runs until shutdown; returns the process exit status.
int run_daemon(DaemonOptions options);

} // namespace ksid::daemon
