#include "daemon/commands/process_commands.hpp"

#include "protocol/claude_cli.hpp"
#include "protocol/python_format.hpp"

namespace ksid::daemon {
namespace json = boost::json;

void ProcessCommands::register_with(CommandRouter& router) {
    router.add("SPAWN", [this](auto& r, auto& c) { return spawn(r, c); });
    router.add("GET_PROCESSES", sync_handler([this](auto& r) { return get_processes(r); }));
}

asio::awaitable<CommandOutcome> ProcessCommands::spawn(const protocol::LegacyRequest& request, RequestContext&) {
    auto params = parameters_object(request);
    if (!params) co_return CommandOutcome{params.error()};
    const json::object& p = **params;

    const json::value& mode = parameter(p, "mode");
    const bool sync = mode.is_string() && mode.get_string() == "sync";
    const bool async = mode.is_string() && mode.get_string() == "async";
    if (!sync && !async) co_return CommandOutcome::failure("INVALID_MODE", "Invalid mode: " + protocol::python_str(mode));

    SpawnParams sp;
    const json::value& prompt = parameter(p, "prompt");
    if (prompt.is_null())
        co_return CommandOutcome::failure("COMMAND_PROCESSING_FAILED", "'NoneType' object is not subscriptable");
    if (!prompt.is_string())
        co_return CommandOutcome::failure("COMMAND_PROCESSING_FAILED",
                                          "'" + std::string(protocol::python_type_name(prompt)) +
                                              "' object has no attribute 'encode'");
    sp.prompt = std::string(prompt.get_string());

    const json::value* model = p.if_contains("model");
    if (!model || model->is_null()) {
        sp.model = config_.models.default_model;
    } else if (!model->is_string()) {
        co_return CommandOutcome::failure("INVALID_PARAMETER", "model must be a string");
    } else {
        sp.model = std::string(model->get_string());
        if (auto problem = manager_.check_model(sp.model)) co_return CommandOutcome::failure("INVALID_PARAMETER", *problem);
    }

    const json::value& session = parameter(p, "session_id");
    if (session.is_string() && !session.get_string().empty()) {
        if (!protocol::is_valid_session_id(session.get_string()))
            co_return CommandOutcome::failure("INVALID_PARAMETER",
                                              "invalid session_id: use letters, digits, '-', '_', '.', ':' "
                                              "(at most 128, not starting with '-' or '.')");
        sp.session_id = std::string(session.get_string());
    } else if (!session.is_null() && !session.is_string()) {
        co_return CommandOutcome::failure("INVALID_PARAMETER", "session_id must be a string or null");
    }

    sp.agent_id = parameter(p, "agent_id");
    const json::value* tools = p.if_contains("enable_tools");
    sp.enable_tools = !tools || protocol::python_truthy(*tools);

    if (sync) co_return CommandOutcome::success(co_await manager_.run_sync(std::move(sp)));

    auto started = manager_.start_async(std::move(sp));
    if (!started) co_return CommandOutcome{started.error()};
    co_return CommandOutcome::success(
        {{"process_id", *started}, {"status", "started"}, {"type", "claude"}, {"mode", "async"}});
}

CommandOutcome ProcessCommands::get_processes(const protocol::LegacyRequest&) {
    // Async claude runs and agent processes; never fails (the legacy bug with agent entries is fixed).
    json::object table = manager_.process_table();
    agents_.add_process_entries(table);
    return CommandOutcome::success({{"processes", std::move(table)}});
}

} // namespace ksid::daemon
