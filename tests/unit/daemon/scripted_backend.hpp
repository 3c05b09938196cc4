#pragma once
// Test doubles for the turn pipeline: a TurnBackend whose turns are scripted (events to emit, the outcome
// to return, whether to wait for a release or a cancel), and a helper that runs a coroutine on an
// io_context to its end.
#include "daemon/turns/turn_backend.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace ksid::test {

struct ScriptedTurn {
    std::vector<daemon::TurnEvent> events;
    daemon::TurnOutcome outcome;
    bool hold = false; // wait until released or cancelled
};

class ScriptedBackend final : public daemon::TurnBackend {
public:
    explicit ScriptedBackend(boost::asio::any_io_executor ex) : executor_(ex) {}

    std::deque<ScriptedTurn> script;       // taken front first; an empty script answers ok with no answer
    std::vector<daemon::TurnRequest> seen; // every request run, in start order
    std::size_t running = 0, max_running = 0;

    // Lets every held turn finish with its scripted outcome.
    void release_all() {
        for (auto* t : timers_)
            t->cancel();
    }

    boost::asio::awaitable<daemon::TurnOutcome>
    run(const daemon::TurnRequest& request, const daemon::TurnEventSink& events,
        std::shared_ptr<daemon::CancellationToken> cancel) override {
        seen.push_back(request);
        ScriptedTurn turn;
        if (!script.empty()) {
            turn = std::move(script.front());
            script.pop_front();
        }
        ++running;
        max_running = std::max(max_running, running);
        for (const auto& e : turn.events)
            if (events) events(e);
        if (turn.hold && !cancel->cancelled()) {
            boost::asio::steady_timer timer(executor_, boost::asio::steady_timer::time_point::max());
            timers_.push_back(&timer);
            const daemon::CancelHandlerScope on_cancel(*cancel, [&timer] { timer.cancel(); });
            co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            std::erase(timers_, &timer);
        }
        --running;
        if (cancel->cancelled()) co_return daemon::TurnOutcome::failure(cancel->reason(), "cancelled");
        co_return turn.outcome;
    }
    std::string_view name() const override { return "scripted"; }

private:
    boost::asio::any_io_executor executor_;
    std::vector<boost::asio::steady_timer*> timers_;
};

// Runs `test` on `io` until it and everything it started have finished; rethrows what it threw.
inline void run_coroutine(boost::asio::io_context& io, boost::asio::awaitable<void> test) {
    std::exception_ptr failure;
    boost::asio::co_spawn(io, std::move(test), [&](std::exception_ptr e) { failure = e; });
    io.run();
    io.restart();
    if (failure) std::rethrow_exception(failure);
}

// A successful outcome whose answer is a CLI result object.
inline daemon::TurnOutcome answered(std::string text, std::optional<std::string> session,
                                    bool is_error = false) {
    daemon::TurnOutcome o;
    o.answer.emplace();
    o.answer->text = text;
    o.answer->session_id = session;
    o.answer->is_error = is_error;
    o.answer->usage = {{"input_tokens", 3}, {"output_tokens", 5}, {"cache_read_input_tokens", 2}};
    o.answer->cost_usd = 0.25;
    o.answer->cli_result = {{"type", "result"}, {"result", text}, {"is_error", is_error}};
    if (session) o.answer->cli_result["session_id"] = *session;
    return o;
}

} // namespace ksid::test
