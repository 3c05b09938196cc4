#include "daemon/legacy/identity_commands.hpp"

#include "daemon/core/ids.hpp"
#include "protocol/python_format.hpp"
#include "protocol/timestamp.hpp"

#include <array>

namespace ksid::daemon {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

struct RoleDefaults {
    std::string_view role;
    std::array<std::string_view, 4> traits;
    std::string_view avatar_style, color_theme, icon;
};

// Spec §5.15; the last entry is the default for any other role.
constexpr std::array<RoleDefaults, 9> role_defaults{{
    {"researcher",
     {"analytical", "thorough", "curious", "methodical"},
     "academic",
     "blue",
     "\U0001F9D1\u200D\U0001F52C"},
    {"coder",
     {"logical", "detail-oriented", "problem-solver", "systematic"},
     "technical",
     "green",
     "\U0001F9D1\u200D\U0001F4BB"},
    {"debater",
     {"articulate", "persuasive", "competitive", "analytical"},
     "formal",
     "red",
     "\U0001F5E3\uFE0F"},
    {"teacher",
     {"patient", "explanatory", "encouraging", "structured"},
     "friendly",
     "orange",
     "\U0001F9D1\u200D\U0001F3EB"},
    {"creative", {"imaginative", "innovative", "expressive", "artistic"}, "artistic", "purple", "\U0001F3A8"},
    {"analyst", {"logical", "systematic", "objective", "precise"}, "professional", "navy", "\U0001F4CA"},
    {"collaborator",
     {"cooperative", "diplomatic", "supportive", "flexible"},
     "approachable",
     "teal",
     "\U0001F91D"},
    {"orchestrator",
     {"organized", "strategic", "coordinating", "decisive"},
     "executive",
     "gold",
     "\U0001F3AD"},
    {"", {"adaptive", "helpful", "professional", "reliable"}, "neutral", "gray", "\U0001F916"},
}};

const RoleDefaults& defaults_for(const json::value& role) {
    if (role.is_string())
        for (const auto& d : role_defaults)
            if (!d.role.empty() && d.role == role.get_string()) return d;
    return role_defaults.back();
}

std::string last_chars(const std::string& s, std::size_t n) {
    return s.size() <= n ? s : s.substr(s.size() - n);
}

// The agent id as a dict key / string: a missing or non-string id fails like the legacy handler's
// subscripting of it ("'NoneType' object is not subscriptable").
std::optional<std::string> agent_id_problem(const json::value& id) {
    if (id.is_string() && !id.get_string().empty()) return std::nullopt;
    if (id.is_string()) return "agent_id must not be empty";
    return "'" + std::string(protocol::python_type_name(id)) + "' object is not subscriptable";
}

} // namespace

json::object IdentityCommands::make_identity(const std::string& agent_id, const json::value& display_name,
                                             const json::value& role, const json::value& traits) {
    const auto& d = defaults_for(role);
    json::object identity;
    identity["identity_uuid"] = uuid4();
    identity["agent_id"] = agent_id;
    if (protocol::python_truthy(display_name))
        identity["display_name"] = display_name;
    else if (protocol::python_truthy(role))
        identity["display_name"] =
            protocol::python_title(protocol::python_str(role)) + "-" + last_chars(agent_id, 4);
    else
        identity["display_name"] = "Agent-" + last_chars(agent_id, 8);
    identity["role"] = protocol::python_truthy(role) ? role : json::value("general");
    if (protocol::python_truthy(traits)) {
        identity["personality_traits"] = traits;
    } else {
        json::array t;
        for (auto trait : d.traits)
            t.emplace_back(trait);
        identity["personality_traits"] = std::move(t);
    }
    identity["appearance"] =
        json::object{{"avatar_style", d.avatar_style}, {"color_theme", d.color_theme}, {"icon", d.icon}};
    identity["created_at"] = protocol::legacy_timestamp_now();
    identity["last_active"] = protocol::legacy_timestamp_now();
    identity["conversation_count"] = 0;
    identity["sessions"] = json::array();
    identity["preferences"] = json::object{
        {"communication_style", "professional"}, {"verbosity", "moderate"}, {"formality", "balanced"}};
    identity["stats"] = json::object{{"messages_sent", 0},
                                     {"conversations_participated", 0},
                                     {"tasks_completed", 0},
                                     {"tools_used", json::array()}};
    return identity;
}

void IdentityCommands::register_with(CommandRouter& router) {
    router.add("CREATE_IDENTITY",
               [this](const protocol::LegacyRequest& r, RequestContext&) { return create(r); });
    router.add("UPDATE_IDENTITY",
               [this](const protocol::LegacyRequest& r, RequestContext&) { return update(r); });
    router.add("GET_IDENTITY", sync_handler([this](auto& r) { return get(r); }));
    router.add("LIST_IDENTITIES", sync_handler([this](auto& r) { return list(r); }));
    router.add("REMOVE_IDENTITY",
               [this](const protocol::LegacyRequest& r, RequestContext&) { return remove(r); });
}

CommandOutcome IdentityCommands::save_failed(const char* code, const std::error_code& ec) {
    log_->error("Cannot write shared_state/identities.json: {}", ec.message());
    return CommandOutcome::failure(code, "Cannot write shared_state/identities.json: " + ec.message());
}

asio::awaitable<CommandOutcome> IdentityCommands::create(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) co_return CommandOutcome::failure("CREATE_IDENTITY_FAILED", params.error().message);
    const json::value& id_value = parameter(**params, "agent_id");
    if (auto problem = agent_id_problem(id_value))
        co_return CommandOutcome::failure("CREATE_IDENTITY_FAILED", *problem);
    const std::string id(id_value.get_string());
    const json::value& role = parameter(**params, "role");
    if (protocol::python_truthy(role) && !role.is_string())
        co_return CommandOutcome::failure("CREATE_IDENTITY_FAILED",
                                          "role must be a string, not " +
                                              std::string(protocol::python_type_name(role)));
    auto identity = make_identity(id, parameter(**params, "display_name"), role,
                                  parameter(**params, "personality_traits"));
    json::object reply_identity = identity;
    if (auto ec = co_await store_.put(id, std::move(identity)))
        co_return save_failed("CREATE_IDENTITY_FAILED", ec);
    log_->info("Created identity '{}' for agent {}", protocol::python_str(reply_identity.at("display_name")),
               id);
    co_return CommandOutcome::success(
        {{"status", "identity_created"}, {"identity", std::move(reply_identity)}});
}

asio::awaitable<CommandOutcome> IdentityCommands::update(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) co_return CommandOutcome::failure("UPDATE_IDENTITY_FAILED", params.error().message);
    const json::value& id = parameter(**params, "agent_id");
    const json::object* identity = id.is_string() ? store_.find(id.get_string()) : nullptr;
    if (!identity)
        co_return CommandOutcome::failure("IDENTITY_NOT_FOUND",
                                          "Identity not found for agent " + protocol::python_str(id));
    const json::value& updates = parameter(**params, "updates");
    if (!updates.is_object())
        co_return CommandOutcome::failure("UPDATE_IDENTITY_FAILED",
                                          "'" + std::string(protocol::python_type_name(updates)) +
                                              "' object has no attribute 'items'");
    json::object updated = *identity;
    updated["last_active"] = protocol::legacy_timestamp_now();
    for (const auto& kv : updates.get_object()) {
        if (kv.key() == "identity_uuid" || kv.key() == "agent_id" || kv.key() == "created_at") continue;
        updated[kv.key()] = kv.value();
    }
    json::object reply_identity = updated;
    const std::string agent_id(id.get_string());
    if (auto ec = co_await store_.put(agent_id, std::move(updated)))
        co_return save_failed("UPDATE_IDENTITY_FAILED", ec);
    log_->info("Updated identity for agent {}", agent_id);
    co_return CommandOutcome::success(
        {{"status", "identity_updated"}, {"identity", std::move(reply_identity)}});
}

CommandOutcome IdentityCommands::get(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return CommandOutcome::failure("GET_IDENTITY_FAILED", params.error().message);
    const json::value& id = parameter(**params, "agent_id");
    const json::object* identity = id.is_string() ? store_.find(id.get_string()) : nullptr;
    if (!identity)
        return CommandOutcome::failure("IDENTITY_NOT_FOUND",
                                       "Identity not found for agent " + protocol::python_str(id));
    return CommandOutcome::success({{"status", "identity_found"}, {"identity", *identity}});
}

CommandOutcome IdentityCommands::list(const protocol::LegacyRequest&) {
    json::object identities;
    for (const auto& kv : store_.all()) {
        if (!kv.value().is_object()) continue;
        const auto& i = kv.value().get_object();
        json::object summary;
        for (const char* key : {"display_name", "role", "personality_traits", "last_active", "stats"})
            summary[key] = i.contains(key) ? i.at(key) : json::value(nullptr);
        identities[kv.key()] = std::move(summary);
    }
    const auto count = identities.size();
    return CommandOutcome::success(
        {{"status", "identities_listed"}, {"identities", std::move(identities)}, {"count", count}});
}

asio::awaitable<CommandOutcome> IdentityCommands::remove(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) co_return CommandOutcome::failure("REMOVE_IDENTITY_FAILED", params.error().message);
    const json::value& id = parameter(**params, "agent_id");
    if (!id.is_string() || !store_.contains(id.get_string()))
        co_return CommandOutcome::failure("IDENTITY_NOT_FOUND",
                                          "Identity not found for agent " + protocol::python_str(id));
    const std::string agent_id(id.get_string());
    if (auto ec = co_await store_.remove(agent_id)) co_return save_failed("REMOVE_IDENTITY_FAILED", ec);
    log_->info("Removed identity for agent {}", agent_id);
    co_return CommandOutcome::success({{"status", "identity_removed"}, {"agent_id", id}});
}

} // namespace ksid::daemon
