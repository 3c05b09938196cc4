#pragma once
// One warm `claude --input-format stream-json` process (claude-cli.md "Persistent processes"): it is
// started ahead of its first turn, is fixed to its key (model, tools, system prompt) and, after its first
// turn, to one session; it serves one turn at a time. A turn writes one user line and reads stream-json
// events up to the `result`; a cancelled or overdue turn is interrupted in band and drained to its
// `result`, else the process is killed. A process whose state is uncertain is never reused.
#include "daemon/core/cancellation.hpp"
#include "daemon/process/persistent_child.hpp"
#include "daemon/turns/turn_events.hpp"
#include "daemon/turns/turn_outcome.hpp"
#include "daemon/turns/turn_request.hpp"
#include "protocol/stream_json.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

// Everything a claude process is fixed to when it starts (the working directory is the daemon's).
struct WarmKey {
    std::string model;
    bool enable_tools = true;
    bool no_tools = false;
    std::string system_prompt;
    bool operator==(const WarmKey&) const = default;
};

struct WarmTurnLimits {
    std::size_t max_output_bytes = 16u << 20;
    std::chrono::milliseconds output_idle_limit{120'000}; // no output for this long: the process is hung
    std::chrono::milliseconds interrupt_drain{3'000};     // after an interrupt, wait this long for the result
    std::chrono::milliseconds kill_grace{1'000};
};

class WarmProcess : public std::enable_shared_from_this<WarmProcess> {
public:
    enum class State { idle, busy, dead };
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
};

} // namespace ksid::daemon
