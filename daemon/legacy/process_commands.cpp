#include "daemon/legacy/process_commands.hpp"

#include "daemon/process/child_process.hpp"
#include "protocol/claude_cli.hpp"
#include "protocol/claude_output.hpp"
#include "protocol/python_format.hpp"
#include "protocol/timestamp.hpp"
#include "protocol/utf8.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace ksid::daemon {
namespace json = boost::json;

ProcessCommands::ProcessCommands(asio::any_io_executor executor, TurnService& turns, AgentSupervisor& agents,
                                 EventSink& events, const config::Config& config,
                                 std::shared_ptr<spdlog::logger> log, const WarmPool* pool,
                                 ModuleHost* modules)
    : executor_(executor), turns_(turns), agents_(agents), events_(events),
      config_(config), limits_{config.daemon.claude_command,    config.queue.run_time_limit.count(),
                               config.api_shim.timeout.count(), config.queue.max_output_bytes,
                               config.queue.max_concurrent,     config.queue.max_pending},
      log_(std::move(log)), pool_(pool), modules_(modules) {}

void ProcessCommands::register_with(CommandRouter& router) {
    router.add("SPAWN", [this](auto& r, auto& c) { return spawn(r, c); });
    router.add("GET_PROCESSES", sync_handler([this](auto& r) { return get_processes(r); }));
}

asio::awaitable<CommandOutcome> ProcessCommands::spawn(const protocol::LegacyRequest& request,
                                                       RequestContext&) {
    auto params = parameters_object(request);
    if (!params) co_return CommandOutcome{params.error()};
    const json::object& p = **params;

    const json::value& mode = parameter(p, "mode");
    const bool sync = mode.is_string() && mode.get_string() == "sync";
    const bool async = mode.is_string() && mode.get_string() == "async";
    if (!sync && !async)
        co_return CommandOutcome::failure("INVALID_MODE", "Invalid mode: " + protocol::python_str(mode));

    TurnRequest turn;
    turn.output = TurnOutput::cli_json;
    const json::value& prompt = parameter(p, "prompt");
    if (prompt.is_null())
        co_return CommandOutcome::failure("COMMAND_PROCESSING_FAILED",
                                          "'NoneType' object is not subscriptable");
    if (!prompt.is_string())
        co_return CommandOutcome::failure("COMMAND_PROCESSING_FAILED",
                                          "'" + std::string(protocol::python_type_name(prompt)) +
                                              "' object has no attribute 'encode'");
    turn.prompt = std::string(prompt.get_string());

    const json::value* model = p.if_contains("model");
    if (!model || model->is_null()) {
        turn.model = config_.models.default_model;
    } else if (!model->is_string()) {
        co_return CommandOutcome::failure("INVALID_PARAMETER", "model must be a string");
    } else {
        turn.model = std::string(model->get_string());
        if (auto problem = turns_.model_problem(turn.model))
            co_return CommandOutcome::failure("INVALID_PARAMETER", *problem);
    }

    const json::value& session = parameter(p, "session_id");
    if (session.is_string() && !session.get_string().empty()) {
        if (!protocol::is_valid_session_id(session.get_string()))
            co_return CommandOutcome::failure("INVALID_PARAMETER",
                                              "invalid session_id: use " + protocol::session_id_rules());
        turn.resume_session = std::string(session.get_string());
    } else if (!session.is_null() && !session.is_string()) {
        co_return CommandOutcome::failure("INVALID_PARAMETER", "session_id must be a string or null");
    }

    json::value agent_id = parameter(p, "agent_id");
    if (agent_id.is_string())
        turn.agent_id = std::string(agent_id.get_string());
    else if (!agent_id.is_null())
        turn.agent_id = protocol::python_str(agent_id);
    const json::value* tools = p.if_contains("enable_tools");
    turn.enable_tools = !tools || protocol::python_truthy(*tools);
    turn.no_tools = config_.daemon.tools_off_means_none; // else the legacy behaviour: the CLI's defaults
    turn.tenant = "local"; // the socket clients' tenant (usage.local_limits)
    turn.transport = "socket";

    if (sync) {
        turn.origin = "SPAWN sync";
        co_return CommandOutcome::success(co_await run_sync(std::move(turn)));
    }
    turn.origin = "SPAWN async";
    auto starting = start_async(std::move(turn), std::move(agent_id));
    auto started = co_await std::move(starting);
    if (!started) co_return CommandOutcome{started.error()};
    co_return CommandOutcome::success(
        {{"process_id", *started}, {"status", "started"}, {"type", "claude"}, {"mode", "async"}});
}

asio::awaitable<json::object> ProcessCommands::run_sync(TurnRequest turn) {
    const std::string prompt = turn.prompt;
    LimitRefusal refusal;
    auto queued = turns_.enqueue(std::move(turn), {}, &refusal); // built before the co_await (GCC 12)
    auto job = co_await std::move(queued);
    // The legacy daemon's words (KSI users grep for them), with the job id.
    log_->info("Synchronous Claude spawn: {}... ({})", protocol::utf8_prefix(prompt, 50),
               job ? "job " + (*job)->id() : std::string("not queued"));
    if (!job) {
        auto refused = TurnOutcome::failure(job.error(), refusal.message);
        refused.retry_after_ms = refusal.retry_after_ms;
        co_return legacy_failure_result(refused, limits_);
    }
    auto finishing = turns_.finish(*job, TurnLogging{TurnLogging::Mode::none, nullptr}); // not in the co_await (GCC 12)
    TurnOutcome outcome = co_await std::move(finishing);
    if (!outcome.ok()) co_return legacy_failure_result(outcome, limits_);

    json::object reply;
    std::optional<std::string> session;
    if (outcome.process) { // a cold run: R is built from what claude printed (spec §6.4 table)
        const ProcessOutput& out = *outcome.process;
        auto parsed = protocol::parse_claude_json_output(out.stdout_data);
        reply = protocol::sync_spawn_result(parsed, out.stderr_data, out.returncode, out.stdout_data);
        using Kind = protocol::ClaudeJsonOutput::Kind;
        if (parsed.kind == Kind::non_object && out.stderr_data.empty()) {
            turns_.write_last_output(parsed.value); // the legacy daemon wrote it before failing
            co_return reply;
        }
        if (parsed.kind != Kind::object) co_return reply;
        if (parsed.session_id_rejected)
            log_->warn(
                "SPAWN sync: claude reported a session id that is not a valid id; no session log written");
        session = parsed.session_id;
    } else if (outcome.answer) { // a warm process or an upstream: its result object is the output
        reply = outcome.answer->cli_result;
        session = outcome.answer->session_id;
    }
    if (auto failure = turns_.record_sync_spawn(prompt, reply, session)) {
        log_->error("SPAWN sync: cannot write {}: {}", failure->path, failure->error.message());
        co_return legacy_io_failure_result(failure->error.value(), failure->path);
    }
    if (modules_) modules_->observe(reply); // every sync run that returned a JSON object (spec §6.4 step 3)
    co_return reply;
}

asio::awaitable<boost::system::result<std::string, CommandError>>
ProcessCommands::start_async(TurnRequest turn, json::value agent_id) {
    // With a broker the workers run claude, not this daemon.
    if (!turns_.stopping() && !config_.api_shim.enabled && config_.queue.broker.empty() &&
        find_executable(config_.daemon.claude_command).empty()) {
        log_->error("SPAWN async: {} not found in PATH", config_.daemon.claude_command);
        co_return CommandError{"SPAWN_FAILED", "Failed to start Claude process"};
    }
    const std::string model = turn.model;
    const json::value session =
        turn.resume_session ? json::value(*turn.resume_session) : json::value(nullptr);
    log_->info("Asynchronous Claude spawn: {}...", protocol::utf8_prefix(turn.prompt, 50));
    log_->info("Sending prompt to Claude: {} bytes", turn.prompt.size());
    LimitRefusal refusal;
    auto queued = turns_.enqueue(std::move(turn), {}, &refusal); // built before the co_await (GCC 12)
    auto job = co_await std::move(queued);
    if (!job) co_return legacy_submit_error(job.error(), limits_, refusal.message);
    log_->info("Started Claude process {} with model {}", (*job)->id(), model);
    if (!protocol::python_truthy(agent_id))
        log_->warn("Async SPAWN {} without agent_id: nobody will be told when it finishes", (*job)->id());
    const std::string id = (*job)->id();
    async_runs_[id] = AsyncRun{agent_id, model, session, *job};
    asio::co_spawn(executor_, finish_async(id, std::move(agent_id), *job), asio::detached);
    co_return boost::system::result<std::string, CommandError>{boost::system::in_place_value, id};
}

void ProcessCommands::publish_process_error(const std::string& process_id, const json::value& agent_id,
                                            const std::string& error) {
    if (!protocol::python_truthy(agent_id)) return;
    events_.publish_event(
        "PROCESS_COMPLETE", "daemon",
        {{"process_id", process_id}, {"agent_id", agent_id}, {"status", "error"}, {"error", error}});
}

asio::awaitable<void> ProcessCommands::finish_async(std::string process_id, json::value agent_id,
                                                    std::shared_ptr<Job> job) {
    auto finishing = turns_.finish(job, TurnLogging{TurnLogging::Mode::exchange, agent_id}); // not in the co_await (GCC 12)
    TurnOutcome outcome = co_await std::move(finishing);
    async_runs_.erase(process_id);
    if (outcome.process && !outcome.process->stderr_data.empty())
        log_->info("Async process {} stderr: {}", process_id, outcome.process->stderr_data.substr(0, 4096));
    if (!outcome.ok()) {
        const std::string error(legacy_failure_result(outcome, limits_).at("error").as_string());
        log_->warn("Async process {} failed: {}", process_id, error);
        publish_process_error(process_id, agent_id, error);
        co_return;
    }
    if (outcome.process) { // a cold cli run: what it printed decides (spec §6.5)
        auto parsed = protocol::parse_claude_json_output(outcome.process->stdout_data);
        using Kind = protocol::ClaudeJsonOutput::Kind;
        switch (parsed.kind) {
        case Kind::empty:
            publish_process_error(process_id, agent_id, "No output produced");
            co_return;
        case Kind::invalid:
            publish_process_error(process_id, agent_id, parsed.parse_error);
            co_return;
        case Kind::non_object:
        case Kind::bad_utf8:
            log_->error("Async process {}: unusable output ({})", process_id,
                        parsed.kind == Kind::bad_utf8 ? parsed.parse_error : "JSON but not an object");
            co_return;
        case Kind::object:
            break;
        }
        if (parsed.session_id_rejected)
            log_->warn("Async process {}: claude reported an invalid session id; no session log written",
                       process_id);
    }
    if (outcome.log_failed || !outcome.answer) co_return;
    if (modules_ && outcome.answer->session_id) { // completions with a session (spec §6.5)
        json::object output = outcome.answer->cli_result;
        output["process_id"] = process_id;
        output["agent_id"] = agent_id;
        modules_->observe(output);
    }
    if (protocol::python_truthy(agent_id)) {
        const auto& result = outcome.answer->cli_result;
        const auto* r = result.if_contains("result");
        const auto& session = outcome.answer->session_id;
        events_.publish_event("PROCESS_COMPLETE", "daemon",
                              {{"process_id", process_id},
                               {"agent_id", agent_id},
                               {"session_id", session ? json::value(*session) : json::value(nullptr)},
                               {"result", r ? *r : json::value("")},
                               {"status", "success"}});
    }
    log_->info("Claude process {} completed successfully", process_id);
}

CommandOutcome ProcessCommands::get_processes(const protocol::LegacyRequest&) {
    // Async claude runs and agent processes; never fails (the legacy bug with agent entries is fixed).
    json::object table;
    for (const auto& [id, run] : async_runs_) {
        const bool running = run.job->state() != Job::State::queued;
        const auto started = run.job->started_at();
        table[id] = json::object{{"agent_id", run.agent_id},
                                 {"model", run.model},
                                 {"started_at", started ? json::value(protocol::legacy_timestamp(*started))
                                                        : json::value(nullptr)},
                                 {"session_id", run.session_id},
                                 {"status", running ? "running" : "queued"},
                                 {"submitted_at", protocol::legacy_timestamp(run.job->submitted_at())}};
    }
    agents_.add_process_entries(table);
    if (pool_)
        for (const auto& p : pool_->processes())
            table["warm-" + std::to_string(p.pid)] =
                json::object{{"agent_id", nullptr},
                             {"model", p.model},
                             {"session_id", p.session ? json::value(*p.session) : json::value(nullptr)},
                             {"status", p.state},
                             {"type", "warm_claude"},
                             {"pid", p.pid},
                             {"rss_bytes", p.rss_bytes},
                             {"turns", p.turns}};
    return CommandOutcome::success({{"processes", std::move(table)}});
}

} // namespace ksid::daemon
