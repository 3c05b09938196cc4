#include "daemon/turns/in_process_job_queue.hpp"
#include "tests/unit/daemon/scripted_backend.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>

using namespace ksid::daemon;
using ksid::test::run_coroutine;
using ksid::test::ScriptedBackend;

namespace {
std::shared_ptr<spdlog::logger> quiet() {
    return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_st>());
}
TurnRequest turn(std::string prompt, int priority = 5) {
    TurnRequest t;
    t.prompt = std::move(prompt);
    t.priority = priority;
    return t;
}
} // namespace

TEST_CASE("job queue: the concurrency limit, then priority, then submission order") {
    asio::io_context io;
    ScriptedBackend backend(io.get_executor());
    for (int i = 0; i < 5; ++i)
        backend.script.push_back({{}, {}, true});
    InProcessJobQueue queue(io.get_executor(), backend, 2, 10, quiet());
    run_coroutine(io, [&]() -> asio::awaitable<void> {
        auto a = queue.submit(turn("a"), {}).value();
        auto b = queue.submit(turn("b"), {}).value();
        auto c = queue.submit(turn("c", 7), {}).value();
        auto d = queue.submit(turn("d", 1), {}).value();
        auto e = queue.submit(turn("e", 7), {}).value();
        CHECK(queue.stats().running == 2);
        CHECK(queue.stats().pending == 3);
        CHECK(a->state() == Job::State::running);
        CHECK(c->state() == Job::State::queued);
        for (int round = 0; round < 3; ++round) {
            backend.release_all();
            asio::steady_timer tick(io, std::chrono::milliseconds(1));
            co_await tick.async_wait(asio::use_awaitable);
        }
        backend.release_all();
        for (auto& j : {a, b, c, d, e})
            CHECK((co_await j->wait()).ok());
    }());
    REQUIRE(backend.seen.size() == 5);
    std::string order;
    for (const auto& r : backend.seen)
        order += r.prompt;
    CHECK(order == "abdce"); // d (priority 1) before c and e (7), which keep their order
    CHECK(backend.max_running == 2);
}

TEST_CASE("job queue: full, closed, and cancellation before and while running") {
    asio::io_context io;
    ScriptedBackend backend(io.get_executor());
    backend.script.push_back({{}, {}, true});
    InProcessJobQueue queue(io.get_executor(), backend, 1, 1, quiet());
    run_coroutine(io, [&]() -> asio::awaitable<void> {
        auto running = queue.submit(turn("r"), {}).value();
        auto queued = queue.submit(turn("q"), {}).value();
        auto full = queue.submit(turn("x"), {});
        REQUIRE_FALSE(full);
        CHECK(is(full.error(), errc::queue_full));

        queued->cancel(errc::cancelled);
        auto q = co_await queued->wait();
        CHECK(is(q.error, errc::cancelled));
        CHECK(queue.stats().pending == 0);

        running->cancel(errc::cancelled);
        auto r = co_await running->wait();
        CHECK(is(r.error, errc::cancelled));

        backend.script.push_back({{}, {}, true});
        auto last = queue.submit(turn("l"), {}).value();
        auto waiting = queue.submit(turn("w"), {}).value();
        queue.close_and_cancel_all(std::chrono::milliseconds(10));
        CHECK(is((co_await last->wait()).error, errc::shutting_down));
        CHECK(is((co_await waiting->wait()).error, errc::shutting_down));
        auto closed = queue.submit(turn("c"), {});
        REQUIRE_FALSE(closed);
        CHECK(is(closed.error(), errc::shutting_down));
        co_await queue.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(1));
        CHECK(queue.stats().running == 0);
    }());
    CHECK(backend.seen.size() == 2); // "q" and "w" never started
}

TEST_CASE("job queue: a backend that throws ends its job with errc::internal, not the daemon") {
    struct Throwing final : TurnBackend {
        asio::awaitable<TurnOutcome> run(const TurnRequest&, const TurnEventSink&,
                                         std::shared_ptr<CancellationToken>) override {
            throw std::runtime_error("boom");
            co_return TurnOutcome{};
        }
        std::string_view name() const override { return "throwing"; }
    } backend;
    asio::io_context io;
    InProcessJobQueue queue(io.get_executor(), backend, 1, 1, quiet());
    run_coroutine(io, [&]() -> asio::awaitable<void> {
        auto job = queue.submit(turn("x"), {}).value();
        auto o = co_await job->wait();
        CHECK(is(o.error, errc::internal));
        CHECK(o.detail == "boom");
    }());
}

TEST_CASE("job queue: events reach the job's sink in order") {
    asio::io_context io;
    ScriptedBackend backend(io.get_executor());
    backend.script.push_back({{TurnStarted{"s1", "m"}, TextDelta{"He"}, TextDelta{"llo"}}, {}, false});
    InProcessJobQueue queue(io.get_executor(), backend, 1, 1, quiet());
    std::string seen;
    run_coroutine(io, [&]() -> asio::awaitable<void> {
        auto job = queue
                       .submit(turn("x"),
                               [&](const TurnEvent& e) {
                                   if (auto* s = std::get_if<TurnStarted>(&e))
                                       seen += "[" + *s->session_id + "]";
                                   if (auto* d = std::get_if<TextDelta>(&e)) seen += d->text;
                               })
                       .value();
        co_await job->wait();
    }());
    CHECK(seen == "[s1]Hello");
}
