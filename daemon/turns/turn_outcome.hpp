#pragma once
// How a turn ended, typed. Either an error (a ksid errc, with context) or the turn's result; a cold cli
// run also keeps exactly what the process printed, for the legacy SPAWN contract (spec §6.4).
#include "daemon/core/error.hpp"
#include "protocol/client_tool_types.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

// A finished turn's answer, whoever produced it.
struct TurnAnswer {
    std::optional<std::string> session_id; // validated; absent when the backend has none
    std::string text;                      // the result text
    std::string stop_reason = "end_turn";  // end_turn, max_tokens, tool_use, ...
    boost::json::object usage;             // the CLI's usage object
    double cost_usd = 0;                   // this turn's cost
    bool is_error = false;                 // claude reported an error (is_error); `text` says what
    // The client tool calls the answer ends with (stop_reason tool_use): the turn waits for their results
    // in its process. `text` is then the assistant's text since the turn (or its last results) began.
    std::vector<protocol::ClientToolCall> tool_calls;
    // Structured output (TurnRequest::json_schema): the object the CLI returned, when it did.
    std::optional<boost::json::value> structured_output;
    // The CLI's result object (a ksid upstream sends its claude's own): legacy replies and session logs
    // are built from it.
    boost::json::object cli_result;
};

// What a `claude` process printed and how it ended (cli backend only).
struct ProcessOutput {
    std::string stdout_data;
    std::string stderr_data;
    int returncode = 0; // exit status, or minus the signal (Python's convention)
};

struct TurnOutcome {
    boost::system::error_code error;      // a ksid errc; empty when the turn ran to its end
    std::string detail;                   // context for logs and error texts
    int upstream_status = 0;              // errc::upstream_failed: the upstream's HTTP status (0: none)
    int spawn_errno = 0;                  // errc::spawn_failed
    std::int64_t retry_after_ms = 0;      // errc::subscription_limited: until the limit resets
    bool started = false;                 // the run began (a run stopped midway may have used tools)
    bool interrupted = false;             // stopped in band (a warm process): nothing was killed
    std::optional<TurnAnswer> answer;     // the turn's result (events turns; cli_json when it parsed)
    std::optional<ProcessOutput> process; // cold cli runs: the process's own output
    bool log_failed = false;              // the session log could not be written (logged)
    // The session the turn could not resume (its worker is gone): it ran in a fresh one.
    std::optional<std::string> replayed_session;

    bool ok() const { return !error; }
    static TurnOutcome failure(boost::system::error_code e, std::string detail = {}) {
        TurnOutcome o;
        o.error = e;
        o.detail = std::move(detail);
        return o;
    }
};

} // namespace ksid::daemon
