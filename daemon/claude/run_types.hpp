#pragma once
// One Claude turn as the process manager asks for it and as a backend reports it. A turn is backend
// neutral: the cli backend runs it as one `claude` process today; a warm-process backend can run it as one
// turn of a longer-lived `claude --input-format stream-json` process, and the upstream backend as one HTTP
// call, without the callers changing.
#include "protocol/claude_cli.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace ksid::daemon {

struct TurnRequest {
    std::string prompt;                        // goes on stdin, never argv
    std::string model;                         // validated
    std::optional<std::string> resume_session; // validated
    bool enable_tools = true;
    std::string append_system_prompt; // facade: system/developer messages
    protocol::ClaudeOutputFormat format = protocol::ClaudeOutputFormat::json;
    std::chrono::milliseconds time_limit{300'000};
    // For the upstream (API shim) backend: sent as metadata, and the hop chain for loop protection.
    std::optional<std::string> agent_id;
    int priority = 5;
    std::string hops; // X-Ksid-Hop of the HTTP request this turn serves ("" for socket clients)
    // Streaming consumers (the facade) get stdout as it arrives.
    std::function<void(std::string_view)> on_output;
    // The consumer shows output as it arrives (a streamed HTTP response). When false, a backend may produce
    // the whole output at once (the upstream backend then makes a non-streaming call).
    bool incremental = true;
};

struct TurnResult {
    enum class Status {
        completed,        // the run ended on its own: stdout/stderr/returncode are what it produced
        not_found,        // the executable could not be found
        spawn_failed,     // it could not be started (errno in spawn_errno)
        timed_out,        // killed at the time limit
        output_too_large, // killed for exceeding the output cap
        cancelled,        // killed or never started because the requester went away or ksid stopped
        rejected,         // never queued: the queue is full
        upstream_failed,  // the API shim's upstream failed or refused (upstream_status, detail)
    };
    Status status = Status::completed;
    std::string stdout_data;
    std::string stderr_data;
    int returncode = 0; // exit status, or minus the signal (Python's convention)
    int spawn_errno = 0;
    int upstream_status = 0;    // HTTP status of a failed upstream call (0: no response)
    bool from_upstream = false; // timed_out/output_too_large/... refer to the upstream call
    std::string detail;         // human-readable context for failures
};

} // namespace ksid::daemon
