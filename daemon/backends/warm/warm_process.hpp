#pragma once
// One warm `claude --input-format stream-json` process (claude-cli.md "Persistent processes"): it is
// started ahead of its first turn, is fixed to its key (model, tools, system prompt) and, after its first
// turn, to one session; it serves one turn at a time. A turn writes one user line and reads stream-json
// events up to the `result`; a cancelled or overdue turn is interrupted in band and drained to its
// `result`, else the process is killed. A process whose state is uncertain is never reused.
// Client tools: the process hosts ksid's in-band MCP server (protocol/client_tools.hpp). When the model
// calls one, the turn returns with the calls (stop reason tool_use) and waits in the process, `awaiting`,
// until continue_turn brings the client's results; the CLI's pending tools/call requests are answered with
// them and the same turn goes on.
#include "daemon/core/cancellation.hpp"
#include "daemon/process/persistent_child.hpp"
#include "daemon/turns/turn_events.hpp"
#include "daemon/turns/turn_outcome.hpp"
#include "daemon/turns/turn_request.hpp"
#include "protocol/client_tools.hpp"
#include "protocol/stream_json.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

// Everything a claude process is fixed to when it starts (the working directory is the daemon's).
struct WarmKey {
    std::string model;
    bool enable_tools = true;
    bool no_tools = false;
    std::string system_prompt;
    std::string client_tools_key; // protocol::client_tools_key of the client tools it serves
    std::shared_ptr<const std::vector<protocol::ClientTool>> client_tools; // those tools (not compared)
    std::string json_schema; // structured output's schema
    bool operator==(const WarmKey& o) const {
        return model == o.model && enable_tools == o.enable_tools && no_tools == o.no_tools &&
               system_prompt == o.system_prompt && client_tools_key == o.client_tools_key &&
               json_schema == o.json_schema;
    }
};

struct WarmTurnLimits {
    std::size_t max_output_bytes = 16u << 20;
    std::chrono::milliseconds output_idle_limit{120'000}; // no output for this long: the process is hung
    std::chrono::milliseconds interrupt_drain{3'000};     // after an interrupt, wait this long for the result
    std::chrono::milliseconds kill_grace{1'000};
};

class WarmProcess : public std::enable_shared_from_this<WarmProcess> {
public:
    enum class State { idle, busy, awaiting, dead };
    struct Private {};

    // Starts a process for `key`, resuming `resume` when set; nullptr with `error` (an errno) on failure.
    static std::shared_ptr<WarmProcess> start(asio::any_io_executor executor, const std::string& claude_command,
                                              const std::string& cwd, WarmKey key,
                                              std::optional<std::string> resume, int& error);
    WarmProcess(Private, asio::any_io_executor executor, WarmKey key, std::optional<std::string> session);

    // Runs one turn. `retry_cold` is set when the process failed before it produced anything for the turn
    // (the turn may then be run cold, once).
    asio::awaitable<TurnOutcome> run_turn(const TurnRequest& request, const TurnEventSink& events,
                                          CancellationToken& cancel, const WarmTurnLimits& limits,
                                          bool& retry_cold);
    // Goes on with the turn that awaits tool results: `request.tool_results` answer its calls.
    asio::awaitable<TurnOutcome> continue_turn(const TurnRequest& request, const TurnEventSink& events,
                                               CancellationToken& cancel, const WarmTurnLimits& limits);
    // The calls an awaiting turn waits for (empty otherwise).
    const std::vector<protocol::ClientToolCall>& awaited_calls() const { return awaited_; }
    // Why these results do not answer exactly the awaited calls; nullopt when they do.
    std::optional<std::string> results_problem(const std::vector<protocol::ClientToolResult>& results) const;
    std::chrono::steady_clock::time_point awaiting_since() const { return awaiting_since_; }

    State state() const { return state_; }
    bool reusable() const { return state_ == State::idle && !uncertain_; }
    const WarmKey& key() const { return key_; }
    // The conversation it holds: the session it resumed, or the one its first turn reported.
    const std::optional<std::string>& session() const { return session_; }
    unsigned turns() const { return turns_; }
    std::chrono::steady_clock::time_point started_at() const { return started_at_; }
    std::chrono::steady_clock::time_point last_used() const { return last_used_; }
    pid_t pid() const { return child_ ? child_->pid() : -1; }
    std::size_t rss_bytes() const { return rss_bytes_; }
    void set_rss_bytes(std::size_t bytes) { rss_bytes_ = bytes; }
    // SIGTERM, SIGKILL after `grace`; the process is dead from now on.
    void stop(std::chrono::milliseconds grace);
    asio::awaitable<void> wait_exit(std::chrono::steady_clock::time_point deadline);

private:
    struct Turn; // the turn in progress
    void on_output(std::string_view bytes);
    void on_exit();
    asio::awaitable<bool> wait_for_result(std::chrono::steady_clock::time_point until);
    // Reads the turn on to its result, its next client tool calls, or its end by cancel, limit or exit.
    asio::awaitable<TurnOutcome> drive_turn(const TurnRequest& request, CancellationToken& cancel,
                                            const WarmTurnLimits& limits, bool& retry_cold);
    TurnOutcome suspend_for_tools();
    void answer_control(const boost::json::object& line);
    void answer_pending_calls();
    TurnOutcome answer_of(boost::json::object result, const TurnRequest& request);

    asio::any_io_executor executor_;
    WarmKey key_;
    std::optional<std::string> session_;
    std::shared_ptr<PersistentChild> child_;
    protocol::StreamJsonParser parser_;
    std::vector<protocol::StreamEvent> parsed_;
    std::unique_ptr<Turn> turn_;
    State state_ = State::idle;
    bool uncertain_ = false; // output outside a turn, an interrupt that did not drain, ...
    unsigned turns_ = 0;
    double cumulative_cost_ = 0; // the CLI's total_cost_usd is cumulative over a process's turns
    std::size_t rss_bytes_ = 0;
    std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_used_ = started_at_;
    AsyncSignal wake_;
    unsigned next_request_id_ = 1;
    std::vector<protocol::ClientToolCall> awaited_; // the calls the awaiting turn returned with
    std::chrono::steady_clock::time_point awaiting_since_;
};

} // namespace ksid::daemon
