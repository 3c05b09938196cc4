#include "daemon/claude/claude_process_manager.hpp"

#include "daemon/process/child_process.hpp"
#include "protocol/claude_output.hpp"
#include "protocol/python_format.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <cmath>
#include <cstring>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

std::chrono::milliseconds to_ms(config::Seconds s) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

std::string python_errno_text(int err, const std::string& path) {
    return "[Errno " + std::to_string(err) + "] " + std::strerror(err) + ": '" + path + "'";
}

std::string seconds_text(config::Seconds s) {
    const double v = s.count();
    return v == std::floor(v) ? std::to_string(static_cast<long long>(v)) : protocol::python_float(v);
}

} // namespace

ClaudeProcessManager::ClaudeProcessManager(asio::any_io_executor executor, const config::Config& config,
                                           JobQueue& queue, SessionLog& session_log,
                                           SessionRegistry& sessions, AgentRegistry& agents,
                                           EventSink& events, std::shared_ptr<spdlog::logger> log)
    : executor_(executor), config_(config), queue_(queue), session_log_(session_log), sessions_(sessions),
      agents_(agents), events_(events), log_(std::move(log)) {}

std::optional<std::string> ClaudeProcessManager::check_model(std::string_view model) const {
    if (!protocol::is_valid_model_name(model)) return "invalid model name '" + std::string(model) + "'";
    for (const auto& m : config_.models.available)
        if (m == model) return std::nullopt;
    if (model.starts_with("claude-")) return std::nullopt;
    if (config_.api_shim.enabled && config_.api_shim.model_map.contains(std::string(model)))
        return std::nullopt;
    std::string known;
    for (const auto& m : config_.models.available)
        known += (known.empty() ? "" : ", ") + m;
    return "unknown model '" + std::string(model) + "' (available: " + known + ", or any claude-* name)";
}

TurnRequest ClaudeProcessManager::make_turn(const SpawnParams& params) const {
    TurnRequest t;
    t.prompt = params.prompt;
    t.model = params.model;
    t.resume_session = params.session_id;
    t.enable_tools = params.enable_tools;
    t.time_limit = to_ms(config_.queue.run_time_limit);
    if (params.agent_id.is_string())
        t.agent_id = std::string(params.agent_id.get_string());
    else if (!params.agent_id.is_null())
        t.agent_id = protocol::python_str(params.agent_id);
    t.priority = params.priority;
    t.hops = params.hops;
    return t;
}

json::object ClaudeProcessManager::failure_result(const TurnResult& r) const {
    const auto& cmd = config_.daemon.claude_command;
    json::object out;
    using S = TurnResult::Status;
    switch (r.status) {
    case S::not_found:
        out["error"] = "claude executable not found in PATH";
        out["details"] = python_errno_text(ENOENT, cmd);
        break;
    case S::spawn_failed:
        out["error"] = std::string("Failed to spawn process: ") +
                       (r.spawn_errno == EACCES || r.spawn_errno == EPERM ? "PermissionError" : "OSError");
        out["details"] = r.spawn_errno ? python_errno_text(r.spawn_errno, cmd) : r.detail;
        break;
    case S::timed_out:
        if (r.from_upstream) {
            out["error"] = "The upstream API did not answer within " +
                           seconds_text(config_.api_shim.timeout) + " s (api_shim.timeout)";
            break;
        }
        out["error"] = "claude did not finish within the time limit of " +
                       seconds_text(config_.queue.run_time_limit) +
                       " s (queue.run_time_limit); its process group was killed";
        out["returncode"] = r.returncode;
        break;
    case S::output_too_large:
        if (r.from_upstream) {
            out["error"] = "The upstream API's response exceeded " +
                           std::to_string(config_.queue.max_output_bytes) + " bytes (queue.max_output_bytes)";
            break;
        }
        out["error"] = "claude wrote more than " + std::to_string(config_.queue.max_output_bytes) +
                       " bytes of output (queue.max_output_bytes); its process group was killed";
        out["returncode"] = r.returncode;
        break;
    case S::cancelled:
        out["error"] = "The run was cancelled: ksid is shutting down";
        out["returncode"] = r.returncode;
        break;
    case S::rejected:
        out["error"] = "ksid's job queue is full (" + std::to_string(config_.queue.max_concurrent) +
                       " running, " + std::to_string(config_.queue.max_pending) +
                       " waiting); try again later";
        out["code"] = "QUEUE_FULL";
        break;
    case S::upstream_failed:
        out["error"] = "API shim: " + r.detail;
        if (r.upstream_status) out["upstream_status"] = r.upstream_status;
        break;
    case S::completed:
        break;
    }
    if (!r.stderr_data.empty() && r.status != S::rejected && r.status != S::not_found)
        out["stderr"] = std::string(r.stderr_data.substr(0, 4096));
    return out;
}

// A registered agent's record gets the session appended and last_active set (spec §6.5).
void ClaudeProcessManager::note_agent_session(const json::value& agent_id, const std::string& session) {
    if (!agent_id.is_string()) return;
    auto* agent = agents_.agents.if_contains(agent_id.get_string());
    if (!agent || !agent->is_object()) return;
    auto& record = agent->get_object();
    if (auto* sessions = record.if_contains("sessions"); sessions && sessions->is_array())
        sessions->get_array().emplace_back(session);
    else
        record["sessions"] = json::array{json::value(session)};
    record["last_active"] = protocol::legacy_timestamp_now();
}

asio::awaitable<json::object> ClaudeProcessManager::run_sync(SpawnParams params) {
    std::shared_ptr<Job> job =
        stopping_ ? nullptr : queue_.submit(make_turn(params), JobOptions{params.priority});
    if (!job) {
        TurnResult rejected;
        rejected.status = stopping_ ? TurnResult::Status::cancelled : TurnResult::Status::rejected;
        co_return failure_result(rejected);
    }
    TurnResult result = co_await job->wait();
    if (result.status != TurnResult::Status::completed) {
        log_->warn("SPAWN sync {}: {} {}", job->id(), failure_result(result).at("error").as_string().c_str(),
                   result.detail);
        co_return failure_result(result);
    }

    auto parsed = protocol::parse_claude_json_output(result.stdout_data);
    json::object reply =
        protocol::sync_spawn_result(parsed, result.stderr_data, result.returncode, result.stdout_data);
    using Kind = protocol::ClaudeJsonOutput::Kind;
    if (parsed.kind == Kind::non_object && result.stderr_data.empty()) {
        session_log_.write_last_output(parsed.value); // the legacy daemon wrote it before failing
        co_return reply;
    }
    if (parsed.kind != Kind::object) co_return reply;

    // Side effects, in the legacy order (spec §6.4).
    auto io_failure = [&](const std::error_code& ec, const std::string& path) {
        log_->error("SPAWN sync: cannot write {}: {}", path, ec.message());
        return json::object{{"error", "OSError: " + python_errno_text(ec.value(), path)}, {"returncode", -1}};
    };
    if (auto ec = session_log_.write_last_output(reply))
        co_return io_failure(ec, "sockets/claude_last_output.json");
    if (parsed.session_id_rejected)
        log_->warn("SPAWN sync: claude reported a session id that is not a valid id; no session log written");
    if (parsed.session_id) {
        const auto& s = *parsed.session_id;
        const auto ts_human = protocol::legacy_timestamp_now();
        auto human = protocol::human_log_line(ts_human, params.prompt);
        auto claude = protocol::claude_log_line(reply, protocol::legacy_timestamp_now());
        if (auto ec = session_log_.append_exchange(s, human, claude))
            co_return io_failure(ec, session_log_.log_path(s));
        sessions_.record(s);
        if (auto ec = session_log_.link_latest(s)) co_return io_failure(ec, "claude_logs/latest.jsonl");
        if (auto ec = session_log_.write_last_session_id(s))
            co_return io_failure(ec, "sockets/last_session_id");
    }
    co_return reply;
}

boost::system::result<std::string, CommandError> ClaudeProcessManager::start_async(SpawnParams params) {
    if (stopping_) return CommandError{"SPAWN_FAILED", "Failed to start Claude process"};
    if (!config_.api_shim.enabled && find_executable(config_.daemon.claude_command).empty()) {
        log_->error("SPAWN async: {} not found in PATH", config_.daemon.claude_command);
        return CommandError{"SPAWN_FAILED", "Failed to start Claude process"};
    }
    auto job = queue_.submit(make_turn(params), JobOptions{params.priority});
    if (!job)
        return CommandError{"QUEUE_FULL", "ksid's job queue is full (" +
                                              std::to_string(config_.queue.max_concurrent) + " running, " +
                                              std::to_string(config_.queue.max_pending) +
                                              " waiting); try again later"};
    if (!protocol::python_truthy(params.agent_id))
        log_->warn("Async SPAWN {} without agent_id: nobody will be told when it finishes", job->id());
    const std::string id = job->id();
    async_runs_[id] =
        AsyncEntry{params.agent_id, params.model,
                   params.session_id ? json::value(*params.session_id) : json::value(nullptr), job};
    asio::co_spawn(executor_, finish_async(id, std::move(params), job), asio::detached);
    return {boost::system::in_place_value, id};
}

void ClaudeProcessManager::publish_process_error(const std::string& process_id, const json::value& agent_id,
                                                 const std::string& error) {
    if (!protocol::python_truthy(agent_id)) return;
    events_.publish_event(
        "PROCESS_COMPLETE", "daemon",
        {{"process_id", process_id}, {"agent_id", agent_id}, {"status", "error"}, {"error", error}});
}

asio::awaitable<void> ClaudeProcessManager::finish_async(std::string process_id, SpawnParams params,
                                                         std::shared_ptr<Job> job) {
    TurnResult result = co_await job->wait();
    async_runs_.erase(process_id);
    if (!result.stderr_data.empty())
        log_->info("Async process {} stderr: {}", process_id, result.stderr_data.substr(0, 4096));
    if (result.status != TurnResult::Status::completed) {
        auto failure = failure_result(result);
        const std::string error(failure.at("error").as_string());
        log_->warn("Async process {} failed: {}", process_id, error);
        publish_process_error(process_id, params.agent_id, error);
        co_return;
    }
    auto parsed = protocol::parse_claude_json_output(result.stdout_data);
    using Kind = protocol::ClaudeJsonOutput::Kind;
    switch (parsed.kind) {
    case Kind::empty:
        publish_process_error(process_id, params.agent_id, "No output produced");
        co_return;
    case Kind::invalid:
        publish_process_error(process_id, params.agent_id, parsed.parse_error);
        co_return;
    case Kind::non_object:
    case Kind::bad_utf8:
        log_->error("Async process {}: unusable output ({})", process_id,
                    parsed.kind == Kind::bad_utf8 ? parsed.parse_error : "JSON but not an object");
        co_return;
    case Kind::object:
        break;
    }
    json::object output = std::move(parsed.output);
    if (parsed.session_id) {
        if (!record_turn(process_id, params, output, *parsed.session_id)) co_return;
    } else if (parsed.session_id_rejected) {
        log_->warn("Async process {}: claude reported an invalid session id; no session log written",
                   process_id);
    }
    if (protocol::python_truthy(params.agent_id)) {
        const auto* r = output.if_contains("result");
        events_.publish_event(
            "PROCESS_COMPLETE", "daemon",
            {{"process_id", process_id},
             {"agent_id", params.agent_id},
             {"session_id", parsed.session_id ? json::value(*parsed.session_id) : json::value(nullptr)},
             {"result", r ? *r : json::value("")},
             {"status", "success"}});
    }
}

std::shared_ptr<Job> ClaudeProcessManager::submit_stream_turn(const SpawnParams& params,
                                                              const std::string& system_prompt,
                                                              std::function<void(std::string_view)> on_output,
                                                              bool incremental) {
    if (stopping_) return nullptr;
    TurnRequest turn = make_turn(params);
    turn.incremental = incremental;
    turn.format = protocol::ClaudeOutputFormat::stream_json;
    turn.append_system_prompt = system_prompt;
    turn.on_output = std::move(on_output);
    return queue_.submit(std::move(turn), JobOptions{params.priority});
}

bool ClaudeProcessManager::record_turn(const std::string& process_id, const SpawnParams& params,
                                       json::object result, const std::string& session) {
    const json::value pid_value(process_id);
    result["process_id"] = pid_value;
    result["agent_id"] = params.agent_id;
    auto human = protocol::human_log_line(protocol::legacy_timestamp_now(), params.prompt, &pid_value,
                                          &params.agent_id);
    auto claude = protocol::claude_log_line(result, protocol::legacy_timestamp_now());
    if (auto ec = session_log_.append_exchange(session, human, claude)) {
        log_->error("Run {}: cannot write {}: {}", process_id, session_log_.log_path(session), ec.message());
        return false;
    }
    sessions_.record(session);
    note_agent_session(params.agent_id, session);
    return true;
}

json::object ClaudeProcessManager::process_table() const {
    json::object table;
    for (const auto& [id, e] : async_runs_) {
        const bool running = e.job->state() != Job::State::queued;
        const auto started = e.job->started_at();
        table[id] = json::object{{"agent_id", e.agent_id},
                                 {"model", e.model},
                                 {"started_at", started ? json::value(protocol::legacy_timestamp(*started))
                                                        : json::value(nullptr)},
                                 {"session_id", e.session_id},
                                 {"status", running ? "running" : "queued"},
                                 {"submitted_at", protocol::legacy_timestamp(e.job->submitted_at())}};
    }
    return table;
}

asio::awaitable<void> ClaudeProcessManager::shutdown(std::chrono::milliseconds grace) {
    stopping_ = true;
    queue_.close_and_cancel_all(grace);
    co_await queue_.wait_idle(std::chrono::steady_clock::now() + grace + std::chrono::milliseconds(700));
}

} // namespace ksid::daemon
