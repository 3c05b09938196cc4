#include "daemon/backends/warm/warm_process.hpp"

#include "daemon/backends/turn_events_from_cli.hpp"
#include "protocol/claude_cli.hpp"
#include "protocol/claude_stream_input.hpp"

#include <boost/json/array.hpp>

#include <cstring>
#include <map>

namespace ksid::daemon {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using Kind = protocol::StreamEvent::Kind;

struct WarmProcess::Turn {
    const TurnEventSink* events = nullptr; // null while the turn awaits tool results
    std::optional<json::object> result;
    std::size_t output_bytes = 0;
    bool produced_output = false;
    Clock::time_point last_output = Clock::now();
    // Client tools.
    std::vector<protocol::ClientToolCall> calls; // client tool calls of the API message being read
    bool calls_complete = false;                 // ... which ended asking for them (stop reason tool_use)
    std::string round_text;                      // assistant text since the turn or its last results
    json::object round_usage;                    // the usage of the message that asked for the calls
    std::vector<protocol::ControlRequest> pending;             // the CLI's tools/call not answered yet
    std::map<std::string, protocol::ClientToolResult> results; // the client's results, by tool_use id
};

std::shared_ptr<WarmProcess> WarmProcess::start(asio::any_io_executor executor, const std::string& claude_command,
                                                const std::string& cwd, WarmKey key,
                                                std::optional<std::string> resume, int& error) {
    protocol::ClaudeInvocation inv;
    inv.model = key.model;
    inv.enable_tools = key.enable_tools;
    inv.no_tools = key.no_tools;
    inv.append_system_prompt = key.system_prompt;
    inv.format = protocol::ClaudeOutputFormat::stream_json;
    inv.stream_input = true;
    inv.resume_session = resume;
    inv.client_tools = !key.client_tools_key.empty();
    inv.json_schema = key.json_schema;
    auto process = std::make_shared<WarmProcess>(Private{}, executor, std::move(key), std::move(resume));
    std::weak_ptr<WarmProcess> weak = process;
    PersistentChildSpec spec{protocol::build_claude_argv(claude_command, inv), cwd};
    process->child_ = PersistentChild::start(
        executor, spec,
        [weak](std::string_view bytes) {
            if (auto p = weak.lock()) p->on_output(bytes);
        },
        [weak] {
            if (auto p = weak.lock()) p->on_exit();
        },
        error);
    if (!process->child_) return nullptr;
    return process;
}

WarmProcess::WarmProcess(Private, asio::any_io_executor executor, WarmKey key, std::optional<std::string> session)
    : executor_(executor), key_(std::move(key)), session_(std::move(session)), wake_(executor) {}

void WarmProcess::on_output(std::string_view bytes) {
    if (turn_) {
        turn_->output_bytes += bytes.size();
        turn_->last_output = Clock::now();
    }
    parser_.feed(bytes, parsed_);
    for (auto& e : parsed_) {
        if (e.kind == Kind::control_request) { // the MCP handshake comes at start, before any turn
            answer_control(e.object);
            continue;
        }
        if (!turn_) {
            // Between turns only the start of a process may speak; anything else means its state is unknown.
            if (e.kind != Kind::init) uncertain_ = true;
            continue;
        }
        turn_->produced_output = true;
        if (!session_ && e.session_id) session_ = e.session_id;
        if (e.kind == Kind::result) {
            if (!turn_->result) turn_->result = std::move(e.object);
            continue;
        }
        if (e.kind == Kind::tool_use && key_.client_tools)
            if (auto name = protocol::client_tool_name(e.text)) { // the client runs it: not an event
                turn_->calls.push_back({e.id, std::string(*name), e.input});
                continue;
            }
        if (e.kind == Kind::message_end) {
            if (e.text == "tool_use" && !turn_->calls.empty()) {
                turn_->calls_complete = true;
                turn_->round_usage = e.object;
            } else {
                turn_->calls.clear();
            }
            continue;
        }
        if (e.kind == Kind::assistant_text) turn_->round_text += e.text;
        if (auto event = turn_event_from_cli(e); event && turn_->events && *turn_->events) (*turn_->events)(*event);
    }
    parsed_.clear();
    if (parser_.overflowed()) uncertain_ = true;
    wake_.notify();
}

void WarmProcess::on_exit() {
    state_ = State::dead;
    wake_.notify();
}

void WarmProcess::stop(std::chrono::milliseconds grace) {
    state_ = State::dead;
    if (child_) child_->stop(grace);
}

asio::awaitable<void> WarmProcess::wait_exit(Clock::time_point deadline) {
    if (child_) co_await child_->wait_exit(deadline);
}

// The CLI's requests to ksid: the client tool server's MCP messages, answered at once, except a tools/call,
// which waits for the client's result; any other request is refused (nothing else is asked for on argv).
void WarmProcess::answer_control(const json::object& line) {
    auto request = protocol::parse_control_request(line);
    if (!request) return;
    using K = protocol::ControlRequest::Kind;
    std::string reply;
    switch (request->kind) {
    case K::mcp_initialize:
        reply = protocol::mcp_result_line(*request, protocol::mcp_initialize_result(request->protocol_version));
        break;
    case K::mcp_notification:
        reply = protocol::mcp_result_line(*request, json::object());
        break;
    case K::mcp_tools_list:
        reply = protocol::mcp_result_line(
            *request, protocol::mcp_tools_list_result(key_.client_tools ? *key_.client_tools
                                                                        : std::vector<protocol::ClientTool>{}));
        break;
    case K::mcp_tools_call:
        if (turn_ && !request->tool_use_id.empty()) {
            turn_->pending.push_back(std::move(*request));
            answer_pending_calls();
            wake_.notify();
            return;
        }
        reply = protocol::mcp_result_line(
            *request, protocol::mcp_tool_call_result(
                          {request->tool_use_id,
                           turn_ ? "ksid needs the call's tool use id (_meta claudecode/toolUseId)"
                                 : "no turn is running",
                           true, {}}));
        break;
    case K::mcp_other:
        reply = protocol::mcp_error_line(*request, -32601, "Method not found");
        break;
    case K::unsupported:
        reply = protocol::control_error_line(request->request_id,
                                             "ksid does not answer '" + request->subtype + "' requests");
        break;
    }
    child_->write(reply);
}

// Answers the CLI's pending tools/call requests the client's results are in for.
void WarmProcess::answer_pending_calls() {
    std::erase_if(turn_->pending, [this](const protocol::ControlRequest& call) {
        const auto it = turn_->results.find(call.tool_use_id);
        if (it == turn_->results.end()) return false;
        child_->write(protocol::mcp_result_line(call, protocol::mcp_tool_call_result(it->second)));
        return true;
    });
}

std::optional<std::string>
WarmProcess::results_problem(const std::vector<protocol::ClientToolResult>& results) const {
    return protocol::tool_results_problem(awaited_, results);
}

TurnOutcome WarmProcess::suspend_for_tools() {
    TurnAnswer a;
    a.session_id = session_;
    a.text = std::move(turn_->round_text);
    a.stop_reason = "tool_use";
    a.usage = std::move(turn_->round_usage);
    a.tool_calls = turn_->calls;
    // What the session log records for this round, in the shape of a result.
    json::array calls;
    for (const auto& c : turn_->calls)
        calls.push_back(json::object{{"id", c.id}, {"name", c.name}, {"input", c.input}});
    a.cli_result = {{"type", "result"},     {"subtype", "tool_use"},          {"is_error", false},
                    {"result", a.text},     {"stop_reason", "tool_use"},      {"usage", a.usage},
                    {"tool_calls", calls},  {"session_id", session_ ? json::value(*session_) : json::value()}};
    awaited_ = std::move(turn_->calls);
    turn_->calls.clear();
    turn_->calls_complete = false;
    turn_->round_text.clear();
    turn_->round_usage.clear();
    turn_->events = nullptr;
    state_ = State::awaiting;
    awaiting_since_ = last_used_ = Clock::now();
    TurnOutcome o;
    o.answer = std::move(a);
    o.started = true;
    return o;
}

// Waits until the turn's result arrived (true), or the process died or `until` passed (false).
asio::awaitable<bool> WarmProcess::wait_for_result(Clock::time_point until) {
    while (!turn_->result && !child_->exited() && Clock::now() < until) co_await wake_.wait_until(until);
    co_return turn_->result.has_value();
}

TurnOutcome WarmProcess::answer_of(json::object result, const TurnRequest& request) {
    // The CLI reports the process's cost so far: the turn's own is the difference.
    if (const auto* c = result.if_contains("total_cost_usd"); c && c->is_number()) {
        const double total = c->to_number<double>();
        result["total_cost_usd"] = std::max(0.0, total - cumulative_cost_);
        cumulative_cost_ = total;
    }
    // What only a persistent process reports, made to read as a cold run's: modelUsage is cumulative too, and
    // model_usage_since_last_result is the turn's own; begun_message_ids has no cold counterpart.
    if (auto* since = result.if_contains("model_usage_since_last_result")) {
        result["modelUsage"] = std::move(*since);
        result.erase("model_usage_since_last_result");
    }
    result.erase("begun_message_ids");
    TurnOutcome o;
    o.answer = answer_from_cli_result(std::move(result), request.resume_session);
    if (o.answer->session_id) session_ = o.answer->session_id;
    return o;
}

asio::awaitable<TurnOutcome> WarmProcess::run_turn(const TurnRequest& request, const TurnEventSink& events,
                                                   CancellationToken& cancel, const WarmTurnLimits& limits,
                                                   bool& retry_cold) {
    auto self = shared_from_this();
    retry_cold = false;
    if (!reusable() || !child_->write(protocol::stream_input_user_line(request.prompt, request.images))) {
        retry_cold = true;
        co_return TurnOutcome::failure(errc::spawn_failed, "the warm claude process is gone");
    }
    state_ = State::busy;
    ++turns_;
    last_used_ = Clock::now();
    turn_ = std::make_unique<Turn>();
    turn_->events = &events;
    co_return co_await drive_turn(request, cancel, limits, retry_cold);
}

asio::awaitable<TurnOutcome> WarmProcess::continue_turn(const TurnRequest& request, const TurnEventSink& events,
                                                        CancellationToken& cancel, const WarmTurnLimits& limits) {
    auto self = shared_from_this();
    if (state_ != State::awaiting || !turn_ || child_->exited())
        co_return TurnOutcome::failure(errc::no_result, "the process awaiting these tool results is gone");
    state_ = State::busy;
    last_used_ = turn_->last_output = Clock::now();
    turn_->events = &events;
    for (const auto& r : request.tool_results)
        turn_->results[r.tool_use_id] = r;
    awaited_.clear();
    // The CLI starts no new turn (no system/init): the consumer learns the session here.
    if (events) events(TurnStarted{session_, key_.model});
    answer_pending_calls();
    bool retry_cold = false; // it has answered before: never run elsewhere
    co_return co_await drive_turn(request, cancel, limits, retry_cold);
}

asio::awaitable<TurnOutcome> WarmProcess::drive_turn(const TurnRequest& request, CancellationToken& cancel,
                                                     const WarmTurnLimits& limits, bool& retry_cold) {
    struct EndTurn { // the turn ends with this frame, however it ends, unless it awaits tool results
        WarmProcess& p;
        ~EndTurn() {
            p.last_used_ = Clock::now();
            if (p.state_ == State::awaiting) return;
            p.turn_.reset();
            if (p.state_ == State::busy) p.state_ = State::idle;
        }
    } end_turn{*this};
    const CancelHandlerScope on_cancel(cancel, [this] { wake_.notify(); });

    const auto deadline = Clock::now() + request.time_limit;
    errc stopped_by = errc::internal;
    for (;;) {
        if (turn_->result) co_return answer_of(std::move(*turn_->result), request);
        if (turn_->calls_complete) co_return suspend_for_tools();
        if (child_->exited()) {
            state_ = State::dead;
            if (!turn_->produced_output) {
                retry_cold = true;
                co_return TurnOutcome::failure(errc::spawn_failed, "the warm claude process exited before answering");
            }
            std::string first = child_->stderr_tail().substr(0, child_->stderr_tail().find('\n'));
            if (first.size() > 300) first.resize(300);
            co_return TurnOutcome::failure(errc::no_result, "claude ended without a result (exit status " +
                                                                std::to_string(child_->returncode()) + ")" +
                                                                (first.empty() ? "" : ": " + first));
        }
        const auto now = Clock::now();
        if (cancel.cancelled()) stopped_by = cancel.reason();
        else if (now >= deadline) stopped_by = errc::timed_out;
        else if (turn_->output_bytes > limits.max_output_bytes) stopped_by = errc::output_too_large;
        else if (now >= turn_->last_output + limits.output_idle_limit) stopped_by = errc::timed_out;
        if (stopped_by != errc::internal) break;
        co_await wake_.wait_until(std::min(deadline, turn_->last_output + limits.output_idle_limit));
    }

    // Stop the turn: an interrupt in band, then its result must be read before the process is used again.
    // An overflowing or silent process is not asked: it is killed.
    const bool hung = stopped_by == errc::timed_out && Clock::now() < deadline;
    if (stopped_by != errc::output_too_large && !hung) {
        const std::string id = "ksid_interrupt_" + std::to_string(next_request_id_++);
        child_->write(protocol::stream_input_interrupt_line(id));
        // At shutdown the budget's grace bounds the drain too.
        const auto drain = cancel.grace() ? std::min(limits.interrupt_drain, *cancel.grace()) : limits.interrupt_drain;
        if (co_await wait_for_result(Clock::now() + drain)) {
            // Drained: the conversation is intact and the process stays usable (its cost is kept count of).
            (void)answer_of(std::move(*turn_->result), request);
            TurnOutcome o = TurnOutcome::failure(stopped_by, "interrupted");
            o.started = true;
            o.interrupted = true;
            co_return o;
        }
    }
    stop(cancel.grace() ? std::min(*cancel.grace(), limits.kill_grace) : limits.kill_grace);
    if (hung && !turn_->produced_output) { // it hung before it said anything: the turn may run elsewhere
        retry_cold = true;
        co_return TurnOutcome::failure(errc::timed_out, "the warm process did not answer");
    }
    TurnOutcome o = TurnOutcome::failure(stopped_by, hung ? "no output for " +
                                                                std::to_string(limits.output_idle_limit.count() / 1000) +
                                                                " s: the warm process was killed"
                                                          : "the warm process was killed");
    o.started = true;
    co_return o;
}

} // namespace ksid::daemon
