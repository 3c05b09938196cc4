#include "daemon/backends/warm/warm_process.hpp"

#include "daemon/backends/turn_events_from_cli.hpp"
#include "protocol/claude_cli.hpp"
#include "protocol/claude_stream_input.hpp"

#include <cstring>

namespace ksid::daemon {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using Kind = protocol::StreamEvent::Kind;

struct WarmProcess::Turn {
    const TurnEventSink* events = nullptr;
    std::optional<json::object> result;
    std::size_t output_bytes = 0;
    bool produced_output = false;
    Clock::time_point last_output = Clock::now();
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
        if (!turn_) {
            // Between turns only the start of a process may speak; anything else means its state is unknown.
            if (e.kind != Kind::init) uncertain_ = true;
            continue;
        }
        turn_->produced_output = true;
        if (!session_ && e.session_id) session_ = e.session_id;
        if (e.kind == Kind::result) {
            if (!turn_->result) turn_->result = std::move(e.object);
        } else if (auto event = turn_event_from_cli(e); event && *turn_->events) {
            (*turn_->events)(*event);
        }
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
    if (!reusable() || !child_->write(protocol::stream_input_user_line(request.prompt))) {
        retry_cold = true;
        co_return TurnOutcome::failure(errc::spawn_failed, "the warm claude process is gone");
    }
    state_ = State::busy;
    ++turns_;
    last_used_ = Clock::now();
    turn_ = std::make_unique<Turn>();
    turn_->events = &events;
    struct EndTurn { // the turn ends with this frame, however it ends
        WarmProcess& p;
        ~EndTurn() {
            p.turn_.reset();
            p.last_used_ = Clock::now();
            if (p.state_ == State::busy) p.state_ = State::idle;
        }
    } end_turn{*this};
    const CancelHandlerScope on_cancel(cancel, [this] { wake_.notify(); });

    const auto deadline = Clock::now() + request.time_limit;
    errc stopped_by = errc::internal;
    for (;;) {
        if (turn_->result) co_return answer_of(std::move(*turn_->result), request);
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
