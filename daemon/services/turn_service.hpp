#pragma once
// The TurnService: the one place a turn is run for any transport. It validates what every entry point
// shares (the model), submits to the job queue, waits, interprets the outcome (claude's own errors, the
// session to continue), records the session log, counts usage and cost, and stops everything at
// shutdown. SPAWN (sync and async) and the facade call it; how an answer or an
// error looks to a client is the transports' pure mappers' business.
#include "config/config.hpp"
#include "daemon/services/registries.hpp"
#include "daemon/services/session_log.hpp"
#include "daemon/services/turn_stats.hpp"
#include "daemon/services/usage_governor.hpp"
#include "daemon/turns/job_queue.hpp"

#include <boost/json/value.hpp>

#include <spdlog/logger.h>

#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

// How a finished turn is written to claude_logs/<session>.jsonl.
struct TurnLogging {
    enum class Mode {
        none,     // the caller records it (sync SPAWN: the legacy order of its files, spec §6.4)
        exchange, // two lines, with process_id and agent_id (async SPAWN and HTTP turns, spec §6.5)
    };
    Mode mode = Mode::exchange;
    boost::json::value agent_id; // as the client sent it (null when absent)
};

// A sync SPAWN's files could not be written: which one, and why.
struct RecordFailure {
    std::error_code error;
    std::string path;
};

class TurnService {
public:
    TurnService(const config::Config& config, JobQueue& queue, SessionLog& session_log,
                SessionRegistry& sessions, AgentRegistry& agents, std::shared_ptr<spdlog::logger> log);

    // nullopt when the model may be used, else why not (errc::invalid_model's text).
    std::optional<std::string> model_problem(std::string_view model) const;

    // Queues a turn (its time limit is set from queue.run_time_limit) once its tenant's limits admit it.
    // errc::queue_full or errc::shutting_down when it cannot be queued; errc::rate_limited,
    // model_not_allowed or key_revoked when the tenant's limits refuse it (`refusal` then says why).
    result<std::shared_ptr<Job>> submit(TurnRequest request, TurnEventSink events = {},
                                        LimitRefusal* refusal = nullptr);
    // submit(), then waits until the queue has taken the turn: a broker's queue answers after a round trip
    // and may refuse it then (errc::queue_full, broker_unavailable, session_unavailable). Such a refusal is
    // recorded like the end of a turn and returned like submit's own, its text in `refusal`.
    asio::awaitable<result<std::shared_ptr<Job>>> enqueue(TurnRequest request, TurnEventSink events = {},
                                                          LimitRefusal* refusal = nullptr);
    // Tenants, limits and the usage ledger (none in unit tests that do not need them).
    void set_governor(UsageGovernor* governor) { governor_ = governor; }
    UsageGovernor* governor() const { return governor_; }

    // Waits for the turn and interprets its outcome: an events turn whose result says is_error becomes
    // errc::claude_error, its session falls back to the one it resumed; a successful turn is recorded as
    // `logging` says and counted.
    asio::awaitable<TurnOutcome> finish(std::shared_ptr<Job> job, TurnLogging logging);

    // Sync SPAWN's files in the legacy order (spec §6.4): claude_last_output.json (the reply), the session's
    // two log lines, the session registry, latest.jsonl, last_session_id.
    std::optional<RecordFailure> record_sync_spawn(const std::string& prompt,
                                                   const boost::json::object& reply,
                                                   const std::optional<std::string>& session);
    std::error_code write_last_output(const boost::json::value& output) {
        return session_log_.write_last_output(output);
    }

    const TurnStats& stats() const { return stats_; }
    QueueStats queue_stats() const { return queue_.stats(); }
    bool stopping() const { return stopping_; }

    // Shutdown: refuse new turns, cancel queued ones, stop running ones within `grace`, and wait for them
    // until `deadline`.
    asio::awaitable<void> shutdown(std::chrono::milliseconds grace,
                                   std::chrono::steady_clock::time_point deadline);

private:
    bool record_exchange(const Job& job, const TurnLogging& logging, boost::json::object result,
                         const std::string& session);
    void note_agent_session(const boost::json::value& agent_id, const std::string& session);
    void count(const Job& job, const TurnOutcome& outcome);

    const config::Config& config_;
    JobQueue& queue_;
    SessionLog& session_log_;
    SessionRegistry& sessions_;
    AgentRegistry& agents_;
    std::shared_ptr<spdlog::logger> log_;
    TurnStats stats_;
    bool stopping_ = false;
    UsageGovernor* governor_ = nullptr;
};

// What a turn is estimated to count for in a tokens-per-minute window before it runs: its prompt's and
// system prompt's length / 4, and 1600 per image (settled with the real usage when it ends).
std::int64_t estimated_tokens(const TurnRequest& request);

// The /metrics label for how a turn ended ("completed" for success).
std::string_view turn_end_cause(const boost::system::error_code& error);

} // namespace ksid::daemon
