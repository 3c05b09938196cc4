#pragma once
// ClaudeProcessManager: runs Claude turns for socket clients (and, later, HTTP clients) through the job
// queue and the configured backend, and keeps the legacy contract around them (spec §6): the SPAWN reply
// shapes, the session logs and convenience files, the session and agent registries, the process table
// (GET_PROCESSES) and PROCESS_COMPLETE events.
#include "config/config.hpp"
#include "daemon/claude/session_log.hpp"
#include "daemon/command_types.hpp"
#include "daemon/events.hpp"
#include "daemon/jobs/job_queue.hpp"
#include "daemon/state/registries.hpp"

#include <boost/json/object.hpp>

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

struct SpawnParams {
    std::string prompt;
    std::string model;
    std::optional<std::string> session_id; // validated; --resume
    boost::json::value agent_id;           // as the client sent it (null when absent)
    bool enable_tools = true;
    int priority = 5;
    std::string hops; // HTTP: the request's X-Ksid-Hop chain (API shim loop protection)
};

class ClaudeProcessManager {
public:
    ClaudeProcessManager(asio::any_io_executor executor, const config::Config& config, JobQueue& queue,
                         SessionLog& session_log, SessionRegistry& sessions, AgentRegistry& agents,
                         EventSink& events, std::shared_ptr<spdlog::logger> log);

    // Parameter checks shared by every entry point: an error text, or nullopt when acceptable.
    std::optional<std::string> check_model(std::string_view model) const;

    // Sync SPAWN: the result object R (Claude's output, or an {"error", ...} object; spec §6.4).
    asio::awaitable<boost::json::object> run_sync(SpawnParams params);

    // Async SPAWN: the process id, or the error envelope (SPAWN_FAILED, QUEUE_FULL).
    boost::system::result<std::string, CommandError> start_async(SpawnParams params);

    // HTTP (facade) turns: stream-json output handed to `on_output` as it arrives. nullptr when the queue is
    // full or ksid is stopping. The caller cancels the job when its client goes away.
    std::shared_ptr<Job> submit_stream_turn(const SpawnParams& params, const std::string& system_prompt,
                                            std::function<void(std::string_view)> on_output,
                                            bool incremental = true);
    // Logs a finished async SPAWN or HTTP turn (spec §6.5): the result gets process_id and agent_id, then two
    // lines go to claude_logs/<session>.jsonl, and the session and agent registries are updated. False
    // when the log could not be written (logged; the registries are left alone).
    bool record_turn(const std::string& process_id, const SpawnParams& params, boost::json::object result,
                     const std::string& session);
    bool stopping() const { return stopping_; }

    // GET_PROCESSES: {process_id: {agent_id, model, started_at, session_id, status}}.
    boost::json::object process_table() const;

    // Shutdown: refuse new runs, cancel queued ones, SIGTERM → grace → SIGKILL running ones, and wait.
    asio::awaitable<void> shutdown(std::chrono::milliseconds grace);

private:
    struct AsyncEntry {
        boost::json::value agent_id;
        std::string model;
        boost::json::value session_id; // requested (null when none)
        std::shared_ptr<Job> job;
    };

    TurnRequest make_turn(const SpawnParams& params) const;
    boost::json::object failure_result(const TurnResult& result) const;
    asio::awaitable<void> finish_async(std::string process_id, SpawnParams params, std::shared_ptr<Job> job);
    void note_agent_session(const boost::json::value& agent_id, const std::string& session);
    void publish_process_error(const std::string& process_id, const boost::json::value& agent_id,
                               const std::string& error);

    asio::any_io_executor executor_;
    const config::Config& config_;
    JobQueue& queue_;
    SessionLog& session_log_;
    SessionRegistry& sessions_;
    AgentRegistry& agents_;
    EventSink& events_;
    std::shared_ptr<spdlog::logger> log_;
    std::map<std::string, AsyncEntry> async_runs_;
    bool stopping_ = false;
};

} // namespace ksid::daemon
