#include "daemon/legacy/system_commands.hpp"

#include "protocol/command_table.hpp"
#include "protocol/python_format.hpp"

namespace ksid::daemon {
namespace json = boost::json;
using boost::asio::awaitable;

SystemCommands::SystemCommands(Lifecycle& lifecycle, ModuleHost& modules, std::shared_ptr<spdlog::logger> log)
    : lifecycle_(lifecycle), modules_(modules), log_(std::move(log)) {}

void SystemCommands::register_with(CommandRouter& router) {
    router.add("HEALTH_CHECK", [this](auto& r, auto& c) { return health_check(r, c); });
    router.add("GET_COMMANDS", [this](auto& r, auto& c) { return get_commands(r, c); });
    router.add("SHUTDOWN", [this](auto& r, auto& c) { return shutdown(r, c); });
    router.add("RELOAD", [this](auto& r, auto& c) { return reload(r, c); });
    router.add("RELOAD_DAEMON", [this](auto& r, auto& c) { return reload_daemon(r, c); });
}

awaitable<CommandOutcome> SystemCommands::health_check(const protocol::LegacyRequest&, RequestContext&) {
    co_return CommandOutcome::success(
        {{"status", "healthy"}, {"message", "HEALTHY"}, {"uptime_info", "Daemon is running normally"}});
}

awaitable<CommandOutcome> SystemCommands::get_commands(const protocol::LegacyRequest&, RequestContext&) {
    json::object commands;
    for (const auto& c : protocol::legacy_commands())
        commands[c.name] = json::object{{"type", c.group}, {"protocol", "JSON v2.0"}};
    json::object result;
    result["commands"] = std::move(commands);
    result["total_commands"] = protocol::legacy_commands().size();
    result["protocol_version"] = protocol::legacy_protocol_version;
    co_return CommandOutcome::success(std::move(result));
}

awaitable<CommandOutcome> SystemCommands::shutdown(const protocol::LegacyRequest&, RequestContext&) {
    log_->info("Received SHUTDOWN command");
    auto outcome = CommandOutcome::success({{"status", "shutting_down"},
                                            {"message", "SHUTTING DOWN"},
                                            {"details", "Daemon shutdown initiated"}});
    outcome.after = AfterReply::shutdown_daemon;
    co_return outcome;
}

awaitable<CommandOutcome> SystemCommands::reload(const protocol::LegacyRequest& request, RequestContext&) {
    auto params = parameters_object(request);
    if (!params) co_return CommandOutcome{params.error()};
    const json::value* module = (*params)->if_contains("module_name");
    const json::value module_name = module ? *module : json::value(nullptr);
    // The reply never depends on the module, as in the legacy daemon; the log says what happened.
    if (module_name.is_string())
        modules_.reload(std::string(module_name.get_string()));
    else
        log_->info("RELOAD {}: no module name; nothing was loaded", protocol::python_str(module_name));
    co_return CommandOutcome::success(
        {{"status", "reloaded"}, {"module", module_name}, {"message", "Module reloaded successfully"}});
}

awaitable<CommandOutcome> SystemCommands::reload_daemon(const protocol::LegacyRequest&, RequestContext&) {
    if (upgrader_) {
        const std::string trigger = "RELOAD_DAEMON";
        auto upgrading = upgrader_(trigger); // built before the co_await (GCC 12)
        json::object result = co_await std::move(upgrading);
        co_return CommandOutcome::success(std::move(result));
    }
    log_->warn("RELOAD_DAEMON: hot reload is not supported; the running daemon keeps serving");
    co_return CommandOutcome::success(
        {{"error", "Hot reload failed: hot reload is not supported by ksid; restart the daemon instead "
                   "(scripts/ksid-control restart)"},
         {"status", "rollback_complete"}});
}

} // namespace ksid::daemon
