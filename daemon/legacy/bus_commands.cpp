#include "daemon/legacy/bus_commands.hpp"

#include "daemon/legacy/connection.hpp"
#include "protocol/python_format.hpp"

namespace ksid::daemon {
namespace json = boost::json;

void BusCommands::register_with(CommandRouter& router) {
    router.add("AGENT_CONNECTION", [this](auto& r, auto& c) { return agent_connection(r, c); });
    router.add("SUBSCRIBE", sync_handler([this](auto& r) { return subscribe(r); }));
    router.add("PUBLISH", sync_handler([this](auto& r) { return publish(r); }));
    router.add("MESSAGE_BUS_STATS",
               sync_handler([this](auto&) { return CommandOutcome::success(bus_.stats()); }));
}

asio::awaitable<CommandOutcome> BusCommands::agent_connection(const protocol::LegacyRequest& request,
                                                              RequestContext& ctx) {
    auto params = parameters_object(request);
    if (!params) co_return CommandOutcome{params.error()};
    const json::value& action = parameter(**params, "action");
    const json::value& agent = parameter(**params, "agent_id");
    const std::string agent_id = protocol::python_str(agent);
    if (action.is_string() && action.get_string() == "connect") {
        if (!ctx.connection || !ctx.persistent)
            co_return CommandOutcome::failure("INVALID_ACTION",
                                              "connect needs a persistent socket connection");
        bus_.connect(agent_id, std::static_pointer_cast<BusEndpoint>(ctx.connection->shared_from_this()));
        if (ctx.first_line) {
            ctx.connection->set_bus_agent_id(agent_id);
            log_->info("Maintaining persistent connection for agent {} (connection {})", agent_id,
                       ctx.connection_id);
        }
        auto outcome =
            CommandOutcome::success({{"status", "connected"}, {"agent_id", agent}, {"action", "connect"}});
        outcome.after_reply = [this, agent_id] { bus_.flush_offline(agent_id); };
        co_return outcome;
    }
    if (action.is_string() && action.get_string() == "disconnect") {
        bus_.disconnect(agent_id);
        co_return CommandOutcome::success(
            {{"status", "disconnected"}, {"agent_id", agent}, {"action", "disconnect"}});
    }
    co_return CommandOutcome::failure("INVALID_ACTION", "Invalid action: " + protocol::python_str(action));
}

CommandOutcome BusCommands::subscribe(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& agent = parameter(**params, "agent_id");
    const json::value& types = parameter(**params, "event_types");
    std::vector<std::string> event_types;
    if (types.is_array()) {
        for (const auto& t : types.get_array()) {
            if (!t.is_string())
                return CommandOutcome::failure("COMMAND_PROCESSING_FAILED", "event_types must be strings");
            event_types.emplace_back(t.get_string());
        }
    } else if (!types.is_null()) {
        return CommandOutcome::failure("COMMAND_PROCESSING_FAILED", "event_types must be a list of strings");
    }
    if (!bus_.subscribe(protocol::python_str(agent), event_types))
        return CommandOutcome::failure("SUBSCRIBE_FAILED",
                                       "Agent " + protocol::python_str(agent) + " not connected");
    return CommandOutcome::success({{"status", "subscribed"}, {"agent_id", agent}, {"event_types", types}});
}

CommandOutcome BusCommands::publish(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& payload = parameter(**params, "payload");
    if (!payload.is_object())
        return CommandOutcome::failure("COMMAND_PROCESSING_FAILED",
                                       "'" + std::string(protocol::python_type_name(payload)) +
                                           "' object is not a mapping");
    const json::value& event_type = parameter(**params, "event_type");
    return CommandOutcome::success(bus_.publish(parameter(**params, "from_agent"),
                                                protocol::python_str(event_type), payload.get_object()));
}

} // namespace ksid::daemon
