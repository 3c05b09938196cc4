#include "daemon/legacy/state_commands.hpp"

#include "protocol/python_format.hpp"

namespace ksid::daemon {
namespace json = boost::json;

void StateCommands::register_with(CommandRouter& router) {
    router.add("SET_SHARED", sync_handler([this](auto& r) { return set_shared(r); }));
    router.add("GET_SHARED", sync_handler([this](auto& r) { return get_shared(r); }));
    router.add("LOAD_STATE", sync_handler([this](auto& r) { return load_state(r); }));
}

namespace {
// The file a request's key names, or the INVALID_KEY failure.
std::optional<CommandOutcome> key_file(const json::value& key, std::string& file) {
    auto name = SharedStateStore::file_name_for(key);
    if (!name)
        return CommandOutcome::failure("INVALID_KEY", "Invalid shared state key " +
                                                          protocol::python_repr(key) + ": " +
                                                          name.error().reason);
    file = std::move(*name);
    return std::nullopt;
}
} // namespace

CommandOutcome StateCommands::set_shared(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& key = parameter(**params, "key");
    std::string file;
    if (auto invalid = key_file(key, file)) return *invalid;
    if (auto ec = shared_.set(file, parameter(**params, "value"))) {
        log_->error("SET_SHARED {}: cannot write shared_state/{}: {}", protocol::python_str(key), file,
                    ec.message());
        return CommandOutcome::failure("COMMAND_PROCESSING_FAILED", "[Errno " + std::to_string(ec.value()) +
                                                                        "] " + ec.message() +
                                                                        ": 'shared_state/" + file + "'");
    }
    log_->info("Set shared state: {}", protocol::python_str(key));
    return CommandOutcome::success({{"status", "set"}, {"key", key}});
}

CommandOutcome StateCommands::get_shared(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& key = parameter(**params, "key");
    std::string file;
    if (auto invalid = key_file(key, file)) return *invalid;
    return CommandOutcome::success({{"key", key}, {"value", shared_.get(file)}});
}

CommandOutcome StateCommands::load_state(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& data = parameter(**params, "state_data");
    if (!data.is_object())
        return CommandOutcome::failure("LOAD_STATE_FAILED",
                                       "'" + std::string(protocol::python_type_name(data)) +
                                           "' object has no attribute 'get'");
    const auto& state = data.get_object();
    // Validate every part before replacing anything: a bad part leaves the registries as they were.
    json::object parts[3];
    const char* names[3] = {"sessions", "shared_state", "agents"};
    for (int i = 0; i < 3; ++i) {
        const auto* v = state.if_contains(names[i]);
        if (!v) continue;
        if (!v->is_object())
            return CommandOutcome::failure(
                "LOAD_STATE_FAILED", std::string("state_data.") + names[i] + " must be an object, not " +
                                         std::string(protocol::python_type_name(*v)));
        parts[i] = v->get_object();
    }
    sessions_.replace(parts[0]);
    shared_.replace_all(parts[1]);
    agents_.agents = std::move(parts[2]);
    log_->info("Loaded state: {} sessions", sessions_.size());
    log_->info("Loaded agents: {} agents", agents_.agents.size());
    log_->info("Hot reload state deserialization complete");
    json::array keys;
    for (const auto& kv : state)
        keys.emplace_back(kv.key());
    return CommandOutcome::success(
        {{"status", "loaded"}, {"message", "State loaded successfully"}, {"state_keys", std::move(keys)}});
}

} // namespace ksid::daemon
