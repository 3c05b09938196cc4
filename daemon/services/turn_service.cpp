#include "daemon/services/turn_service.hpp"

#include "protocol/claude_cli.hpp"
#include "protocol/claude_output.hpp"
#include "protocol/timestamp.hpp"

namespace ksid::daemon {
namespace json = boost::json;

std::string_view turn_end_cause(const boost::system::error_code& error) {
    if (!error) return "completed";
    if (error.category() != ksid_category()) return "internal";
    switch (static_cast<errc>(error.value())) {
    case errc::queue_full:
        return "rejected";
    case errc::rate_limited:
    case errc::model_not_allowed:
        return "rate_limited";
    case errc::subscription_limited:
        return "subscription_limited";
    case errc::key_revoked:
        return "key_revoked";
    case errc::cancelled_by_admin:
        return "cancelled_by_admin";
    case errc::shutting_down:
        return "cancelled";
    case errc::cancelled:
        return "client_gone";
    case errc::claude_not_found:
        return "not_found";
    case errc::spawn_failed:
        return "spawn_failed";
    case errc::timed_out:
    case errc::upstream_timed_out:
        return "timed_out";
    case errc::output_too_large:
    case errc::upstream_too_large:
        return "output_too_large";
    case errc::claude_error:
        return "claude_error";
    case errc::no_result:
        return "no_result";
    case errc::upstream_failed:
        return "upstream_failed";
    case errc::broker_unavailable:
        return "broker_unavailable";
    case errc::session_unavailable:
        return "session_unavailable";
    case errc::worker_lost:
        return "worker_lost";
    default:
        return "internal";
    }
}

TurnService::TurnService(const config::Config& config, JobQueue& queue, SessionLog& session_log,
                         SessionRegistry& sessions, AgentRegistry& agents,
                         std::shared_ptr<spdlog::logger> log)
    : config_(config), queue_(queue), session_log_(session_log), sessions_(sessions), agents_(agents),
      log_(std::move(log)) {}

std::optional<std::string> TurnService::model_problem(std::string_view model) const {
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

std::int64_t estimated_tokens(const TurnRequest& request) {
    return static_cast<std::int64_t>((request.prompt.size() + request.append_system_prompt.size()) / 4 +
                                     1600 * request.images.size() + 1);
}

result<std::shared_ptr<Job>> TurnService::submit(TurnRequest request, TurnEventSink events,
                                                 LimitRefusal* refusal) {
    if (stopping_) {
        ++stats_.ended["cancelled"];
        return errc::shutting_down;
    }
    request.time_limit = config::to_ms(config_.queue.run_time_limit);
    auto job_id = std::make_shared<std::string>();
    TurnRequest kept; // what the governor needs if the queue refuses the turn (not the prompt)
    if (governor_) {
        if (auto refused = governor_->admit(request, estimated_tokens(request))) {
            ++stats_.ended[std::string(turn_end_cause(refused->error))];
            log_->warn("Turn refused ({}): {}", request.origin, refused->message);
            const auto e = refused->error;
            if (refusal) *refusal = std::move(*refused);
            return e;
        }
        // The subscription limits the CLI reports while the turn runs.
        events = [governor = governor_, job_id, inner = std::move(events)](const TurnEvent& e) {
            if (const auto* notice = std::get_if<RateLimitNotice>(&e)) governor->note_subscription(*job_id, notice->info);
            if (inner) inner(e);
        };
        kept.admission = request.admission;
        kept.tenant = request.tenant;
        kept.request_id = request.request_id;
        kept.transport = request.transport;
        kept.model = request.model;
    }
    auto job = queue_.submit(std::move(request), std::move(events));
    if (!job) {
        ++stats_.ended[std::string(turn_end_cause(job.error()))];
        if (governor_) governor_->take_back(kept, job.error());
        return job;
    }
    *job_id = (*job)->id();
    if (governor_) governor_->started(*job);
    return job;
}

asio::awaitable<result<std::shared_ptr<Job>>> TurnService::enqueue(TurnRequest request, TurnEventSink events,
                                                                   LimitRefusal* refusal) {
    auto job = submit(std::move(request), std::move(events), refusal);
    if (!job) co_return job;
    auto waiting = (*job)->accepted(); // built before the co_await (GCC 12)
    const auto refused = co_await std::move(waiting);
    if (!refused) co_return job;
    TurnLogging none;
    none.mode = TurnLogging::Mode::none;
    auto finishing = finish(*job, none);
    const TurnOutcome outcome = co_await std::move(finishing);
    if (refusal) refusal->message = outcome.detail;
    co_return refused;
}

asio::awaitable<TurnOutcome> TurnService::finish(std::shared_ptr<Job> job, TurnLogging logging) {
    TurnOutcome outcome = co_await job->wait();
    const TurnRequest& request = job->request();
    if (outcome.ok() && !outcome.answer && request.output == TurnOutput::events) {
        outcome.error = errc::no_result; // a backend that ended without an answer
        outcome.detail = "the turn ended without a result";
    } else if (outcome.ok() && outcome.answer && request.output == TurnOutput::events) {
        TurnAnswer& answer = *outcome.answer;
        if (answer.is_error) {
            outcome.error = errc::claude_error;
            outcome.detail = answer.text.empty() ? "(no text)" : answer.text.substr(0, 500);
        } else if (!answer.session_id) {
            answer.session_id = request.resume_session; // the session it continued
        }
    }
    if (outcome.ok() && outcome.answer && outcome.answer->session_id &&
        logging.mode == TurnLogging::Mode::exchange)
        outcome.log_failed =
            !record_exchange(*job, logging, outcome.answer->cli_result, *outcome.answer->session_id);
    if (is(outcome.error, errc::key_revoked))
        outcome.detail = "the API key '" + request.tenant + "' was revoked while the turn ran; it was stopped";
    if (governor_) {
        // A run the Claude subscription's limit rejected is a 429 until the limit resets, never a 502.
        const auto rejected = co_await governor_->finished(*job, outcome);
        if (rejected && !outcome.ok()) {
            const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            outcome.error = errc::subscription_limited;
            outcome.retry_after_ms = std::max<std::int64_t>(rejected->second * 1000 - now, 1000);
            outcome.detail = "the Claude subscription's " + rejected->first + " limit is reached; it resets at " +
                             protocol::legacy_timestamp(std::chrono::system_clock::time_point(
                                 std::chrono::seconds(rejected->second)));
        }
    }
    if (!outcome.ok())
        log_->warn("Turn {} ({}) ended: {}{}{}", job->id(), request.origin, outcome.error.message(),
                   outcome.detail.empty() ? "" : ": ", outcome.detail);
    count(*job, outcome);
    co_return outcome;
}

void TurnService::count(const Job& job, const TurnOutcome& outcome) {
    ++stats_.ended[std::string(turn_end_cause(outcome.error))];
    if (const auto started = job.started_at())
        stats_.queue_wait.observe(std::chrono::duration<double>(*started - job.submitted_at()).count());
    if (!outcome.ok() || !outcome.answer) return;
    const auto& usage = outcome.answer->usage;
    stats_.prompt_tokens += protocol::usage_count(usage, "input_tokens") +
                            protocol::usage_count(usage, "cache_creation_input_tokens") +
                            protocol::usage_count(usage, "cache_read_input_tokens");
    stats_.completion_tokens += protocol::usage_count(usage, "output_tokens");
    stats_.cost_usd += outcome.answer->cost_usd;
}

// A registered agent's record gets the session appended and last_active set (spec §6.5).
void TurnService::note_agent_session(const json::value& agent_id, const std::string& session) {
    if (!agent_id.is_string()) return;
    auto* agent = agents_.agents.if_contains(agent_id.get_string());
    if (!agent || !agent->is_object()) return;
    auto& record = agent->get_object();
    if (auto* list = record.if_contains("sessions"); list && list->is_array())
        list->get_array().emplace_back(session);
    else
        record["sessions"] = json::array{json::value(session)};
    record["last_active"] = protocol::legacy_timestamp_now();
}

// Logs a finished async SPAWN or HTTP turn (spec §6.5): the result gets process_id and agent_id, then two
// lines go to claude_logs/<session>.jsonl, and the session and agent registries are updated. False when the
// log could not be written (logged; the registries are left alone).
bool TurnService::record_exchange(const Job& job, const TurnLogging& logging, json::object result,
                                  const std::string& session) {
    const json::value pid_value(job.id());
    result["process_id"] = pid_value;
    result["agent_id"] = logging.agent_id;
    auto human = protocol::human_log_line(protocol::legacy_timestamp_now(), job.request().prompt, &pid_value,
                                          &logging.agent_id);
    auto claude = protocol::claude_log_line(result, protocol::legacy_timestamp_now());
    if (auto ec = session_log_.append_exchange(session, human, claude)) {
        log_->error("Turn {}: cannot write {}: {}", job.id(), session_log_.log_path(session), ec.message());
        return false;
    }
    sessions_.record(session);
    note_agent_session(logging.agent_id, session);
    return true;
}

std::optional<RecordFailure> TurnService::record_sync_spawn(const std::string& prompt,
                                                            const json::object& reply,
                                                            const std::optional<std::string>& session) {
    if (auto ec = session_log_.write_last_output(reply))
        return RecordFailure{ec, "sockets/claude_last_output.json"};
    if (!session) return std::nullopt;
    const auto& s = *session;
    auto human = protocol::human_log_line(protocol::legacy_timestamp_now(), prompt);
    auto claude = protocol::claude_log_line(reply, protocol::legacy_timestamp_now());
    if (auto ec = session_log_.append_exchange(s, human, claude))
        return RecordFailure{ec, session_log_.log_path(s)};
    sessions_.record(s);
    if (auto ec = session_log_.link_latest(s)) return RecordFailure{ec, "claude_logs/latest.jsonl"};
    if (auto ec = session_log_.write_last_session_id(s)) return RecordFailure{ec, "sockets/last_session_id"};
    return std::nullopt;
}

asio::awaitable<void> TurnService::shutdown(std::chrono::milliseconds grace,
                                            std::chrono::steady_clock::time_point deadline) {
    stopping_ = true;
    queue_.close_and_cancel_all(grace);
    co_await queue_.wait_idle(deadline);
}

} // namespace ksid::daemon
