#pragma once
// HEALTH_CHECK, GET_COMMANDS, SHUTDOWN, RELOAD and RELOAD_DAEMON (spec §5.3, §5.20, §5.22, §5.28, §5.29).
#include "daemon/core/lifecycle.hpp"
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/module_host.hpp"

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <string>

namespace ksid::daemon {

class SystemCommands {
public:
    SystemCommands(Lifecycle& lifecycle, ModuleHost& modules, std::shared_ptr<spdlog::logger> log);
    void register_with(CommandRouter& router);
    // RELOAD_DAEMON runs this (app/daemon_upgrade: the upgrade in place) and answers what it returns.
    using Upgrader = std::function<boost::asio::awaitable<boost::json::object>(std::string trigger)>;
    void set_upgrader(Upgrader upgrader) { upgrader_ = std::move(upgrader); }

private:
    boost::asio::awaitable<CommandOutcome> health_check(const protocol::LegacyRequest&, RequestContext&);
    boost::asio::awaitable<CommandOutcome> get_commands(const protocol::LegacyRequest&, RequestContext&);
    boost::asio::awaitable<CommandOutcome> shutdown(const protocol::LegacyRequest&, RequestContext&);
    boost::asio::awaitable<CommandOutcome> reload(const protocol::LegacyRequest&, RequestContext&);
    boost::asio::awaitable<CommandOutcome> reload_daemon(const protocol::LegacyRequest&, RequestContext&);

    Lifecycle& lifecycle_;
    ModuleHost& modules_;
    std::shared_ptr<spdlog::logger> log_;
    Upgrader upgrader_;
};

} // namespace ksid::daemon
