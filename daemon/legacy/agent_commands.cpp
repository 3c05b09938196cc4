#include "daemon/legacy/agent_commands.hpp"

#include "daemon/core/filesystem.hpp"
#include "daemon/core/ids.hpp"
#include "protocol/claude_cli.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/python_format.hpp"
#include "protocol/python_json.hpp"
#include "protocol/timestamp.hpp"

#include <algorithm>
#include <dirent.h>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

// ",".join(capabilities).split(","), without empty names: "a,b" and ["a,b"] both give ["a", "b"].
json::array normalise_capabilities(const json::value& caps) {
    std::string joined;
    if (caps.is_string()) {
        joined = std::string(caps.get_string());
    } else if (caps.is_array()) {
        bool first = true;
        for (const auto& c : caps.get_array()) {
            if (!first) joined += ',';
            first = false;
            joined += protocol::python_str(c);
        }
    }
    json::array out;
    std::size_t start = 0;
    while (start <= joined.size()) {
        auto comma = joined.find(',', start);
        if (comma == std::string::npos) comma = joined.size();
        if (comma > start) out.emplace_back(joined.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

std::vector<std::string> strings_of(const json::value& v) {
    std::vector<std::string> out;
    if (v.is_array())
        for (const auto& e : v.get_array())
            if (e.is_string()) out.emplace_back(e.get_string());
    return out;
}

// Names that go on an agent's argv and into ids: letters, digits, - _ . :, not starting with - or '.'.
bool safe_name(std::string_view s) {
    return protocol::is_safe_identifier(s);
}

} // namespace

void AgentCommands::register_with(CommandRouter& router) {
    router.add("REGISTER_AGENT", sync_handler([this](auto& r) { return register_agent(r); }));
    router.add("GET_AGENTS", sync_handler([this](auto&) {
                   return CommandOutcome::success({{"agents", agents_.agents}});
               }));
    router.add("ROUTE_TASK", sync_handler([this](auto& r) { return route_task(r); }));
    router.add("SPAWN_AGENT", sync_handler([this](auto& r) { return spawn_agent(r); }));
}

CommandOutcome AgentCommands::register_agent(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& id = parameter(**params, "agent_id");
    const json::value* caps = (*params)->if_contains("capabilities");
    json::object record{{"role", parameter(**params, "role")},
                        {"capabilities", caps ? normalise_capabilities(*caps) : json::array()},
                        {"status", "active"},
                        {"created_at", protocol::legacy_timestamp_now()},
                        {"sessions", json::array()}};
    agents_.agents[protocol::python_str(id)] = std::move(record); // the record is replaced entirely
    log_->info("Registered agent {} with role {}", protocol::python_str(id),
               protocol::python_str(parameter(**params, "role")));
    return CommandOutcome::success({{"status", "registered"}, {"agent_id", id}});
}

CommandOutcome AgentCommands::route_task(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& task = parameter(**params, "task");
    const json::value* req_value = (*params)->if_contains("required_capabilities");
    const json::value required = req_value ? *req_value : json::value(json::array());
    const json::value* ctx_value = (*params)->if_contains("context");
    const std::string context = ctx_value ? protocol::python_str(*ctx_value) : std::string();
    const auto required_set = strings_of(required);

    struct Candidate {
        std::string id;
        const json::object* record;
        std::size_t score;
    };
    std::vector<Candidate> candidates;
    for (const auto& kv : agents_.agents) {
        if (!kv.value().is_object()) continue;
        const auto& rec = kv.value().get_object();
        const auto* caps = rec.if_contains("capabilities");
        auto have = caps ? strings_of(*caps) : std::vector<std::string>{};
        std::sort(have.begin(), have.end());
        have.erase(std::unique(have.begin(), have.end()), have.end());
        std::vector<std::string> req = required_set;
        std::sort(req.begin(), req.end());
        req.erase(std::unique(req.begin(), req.end()), req.end());
        std::vector<std::string> common;
        std::set_intersection(have.begin(), have.end(), req.begin(), req.end(), std::back_inserter(common));
        if (!common.empty()) candidates.push_back({std::string(kv.key()), &rec, common.size()});
    }
    if (candidates.empty())
        return CommandOutcome::success({{"status", "no_suitable_agent"},
                                        {"required_capabilities", required},
                                        {"suggestion", "Consider spawning a specialist agent"}});
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    auto field = [](const json::object& rec, const char* key) {
        const auto* v = rec.if_contains(key);
        return v ? *v : json::value(nullptr);
    };
    const Candidate* chosen = nullptr;
    for (const auto& c : candidates) {
        const auto* status = c.record->if_contains("status");
        if (status && status->is_string() && status->get_string() == "active") {
            chosen = &c;
            break;
        }
    }
    if (!chosen) {
        json::array suitable;
        for (const auto& c : candidates)
            suitable.push_back(json::object{{"agent_id", c.id},
                                            {"capabilities", field(*c.record, "capabilities")},
                                            {"role", field(*c.record, "role")},
                                            {"status", field(*c.record, "status")},
                                            {"match_score", c.score}});
        return CommandOutcome::success({{"status", "no_available_agent"},
                                        {"suitable_agents", std::move(suitable)},
                                        {"suggestion", "All suitable agents are busy"}});
    }
    json::object line{{"timestamp", protocol::legacy_timestamp_now()},
                      {"type", "task_routing"},
                      {"task", task},
                      {"required_capabilities", required},
                      {"assigned_agent", chosen->id},
                      {"agent_capabilities", field(*chosen->record, "capabilities")},
                      {"match_score", chosen->score}};
    if (auto ec = append_line("claude_logs/task_routing.jsonl", protocol::to_python_json(line) + "\n"))
        log_->warn("Cannot append to claude_logs/task_routing.jsonl: {}", ec.message());
    log_->info("Routed task to agent {} (score: {})", chosen->id, chosen->score);
    std::string message = "TASK_ASSIGNMENT: " + protocol::python_str(task);
    if (!context.empty()) message += "\nCONTEXT: " + context;
    return CommandOutcome::success({{"status", "routed"},
                                    {"assigned_agent", chosen->id},
                                    {"agent_role", field(*chosen->record, "role")},
                                    {"match_score", chosen->score},
                                    {"message", std::move(message)}});
}

CommandOutcome AgentCommands::spawn_agent(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const auto& p = **params;
    const json::value& profile_value = parameter(p, "profile_name");
    if (!profile_value.is_string() || !safe_name(profile_value.get_string()))
        return CommandOutcome::failure(
            "INVALID_PARAMETER", "profile_name must be a name of letters, digits, '-', '_', '.' or ':'");
    const std::string profile(profile_value.get_string());
    const json::value& task = parameter(p, "task");
    const json::value* context_value = p.if_contains("context");
    const json::value context = context_value ? *context_value : json::value("");
    const json::value& requested_id = parameter(p, "agent_id");
    if (protocol::python_truthy(requested_id) &&
        (!requested_id.is_string() || !safe_name(requested_id.get_string())))
        return CommandOutcome::failure("INVALID_PARAMETER",
                                       "agent_id must be a name of letters, digits, '-', '_', '.' or ':'");

    // 1. The composition, chosen as the legacy selector does.
    const json::value& role_param = parameter(p, "role");
    const std::string role = protocol::python_truthy(role_param) ? protocol::python_str(role_param) : profile;
    const auto caps = strings_of(parameter(p, "capabilities"));
    compositions_.ensure_directories();
    auto selection = compositions_.select_for_agent(role, caps, protocol::python_str(task));
    if (selection.composition.empty()) selection = {profile, false, 0}; // the legacy selector raised
    const std::string& composition = selection.composition;
    log_->info("Selected composition '{}' for agent {} (score: {:.3f})", composition,
               protocol::python_truthy(requested_id) ? protocol::python_str(requested_id) : profile,
               selection.score);

    // 2. The first agent_profiles/*.json (readdir order) for that composition, else a synthetic profile.
    json::value profile_role, profile_caps = json::array(), profile_model = "sonnet";
    bool found = false;
    if (DIR* d = ::opendir("agent_profiles")) {
        while (dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name.front() == '.' || !name.ends_with(".json")) continue;
            auto text = read_small_file("agent_profiles/" + name, 1 << 20);
            if (!text) continue;
            auto parsed = protocol::parse_json_text(*text);
            if (!parsed || !parsed->is_object()) continue;
            const auto& o = parsed->get_object();
            const auto* comp = o.if_contains("composition");
            if (!comp || !comp->is_string() || comp->get_string() != composition) continue;
            profile_role = o.contains("role") ? o.at("role") : json::value(nullptr);
            if (const auto* c = o.if_contains("capabilities")) profile_caps = *c;
            if (const auto* m = o.if_contains("model")) profile_model = *m;
            found = true;
            break;
        }
        ::closedir(d);
    }
    if (!found) {
        std::string r = composition;
        std::replace(r.begin(), r.end(), '_', ' ');
        profile_role = protocol::python_title(r);
    }

    // 3-5. The agent id, the process, the process table.
    const std::string agent_id = protocol::python_truthy(requested_id)
                                     ? std::string(requested_id.get_string())
                                     : composition + "_" + short_process_id();
    if (supervisor_.full()) {
        // Each agent holds a process and its pipes (300 agents held 912 fds): refused before they run out.
        log_->warn("SPAWN_AGENT {}: {} agent processes are running (daemon.max_agent_processes); refused",
                   agent_id, supervisor_.running());
        return CommandOutcome::failure(
            "SPAWN_AGENT_FAILED", "Failed to spawn agent with composition " + composition + ": " +
                                      std::to_string(supervisor_.running()) +
                                      " agent processes are running, the most daemon.max_agent_processes "
                                      "allows; try again when one has exited");
    }
    auto process_id = supervisor_.start(agent_id, profile);
    if (!process_id)
        return CommandOutcome::failure("SPAWN_AGENT_FAILED",
                                       "Failed to spawn agent with composition " + composition);

    // 6. The agent record.
    agents_.agents[agent_id] =
        json::object{{"composition", composition}, {"profile_fallback", profile},
                     {"role", profile_role},       {"capabilities", profile_caps},
                     {"status", "active"},         {"model", profile_model},
                     {"process_id", *process_id},  {"initial_task", task},
                     {"initial_context", context}, {"created_at", protocol::legacy_timestamp_now()},
                     {"sessions", json::array()}};
    log_->info("Spawned agent {} using composition {} with initial task: {}", agent_id, composition,
               protocol::python_str(task));
    return CommandOutcome::success({{"status", "spawned"},
                                    {"process_id", *process_id},
                                    {"agent_id", agent_id},
                                    {"composition_used", composition},
                                    {"fallback_used", selection.fallback_used}});
}

} // namespace ksid::daemon
