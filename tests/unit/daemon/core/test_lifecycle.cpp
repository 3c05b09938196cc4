#include "daemon/core/lifecycle.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

using namespace ksid::daemon;
using namespace std::chrono_literals;

TEST_CASE("shutdown budget: every deadline derives from its start and fits the 5 s promise") {
    const ShutdownBudget b;
    CHECK(b.child_grace(10s) == 3000ms);
    CHECK(b.child_grace(1s) == 1000ms);
    CHECK(b.child_grace(0s) == 0ms);
    CHECK(b.work_deadline() - b.start == 3500ms);
    CHECK(b.http_deadline() - b.start == 4000ms);
    CHECK(b.deadline() - b.start == 4500ms);
    CHECK(b.start + b.child_grace(4s) < b.work_deadline());
    CHECK(b.work_deadline() < b.http_deadline());
    CHECK(b.http_deadline() < b.deadline());
}

TEST_CASE("lifecycle: hooks run concurrently; one that throws does not stop the others") {
    asio::io_context io;
    Lifecycle lifecycle(io.get_executor());
    std::vector<std::string> order;
    auto sleeper = [&](std::string name, std::chrono::milliseconds d) {
        return [&order, name, d, &io](ShutdownBudget) -> asio::awaitable<void> {
            asio::steady_timer t(io, d);
            co_await t.async_wait(asio::use_awaitable);
            order.push_back(name);
        };
    };
    lifecycle.on_shutdown(sleeper("slow", 200ms));
    lifecycle.on_shutdown(sleeper("fast", 10ms));
    lifecycle.on_shutdown([](ShutdownBudget) -> asio::awaitable<void> {
        throw std::runtime_error("broken hook");
        co_return;
    });
    std::vector<std::string> reports;
    const auto started = std::chrono::steady_clock::now();
    asio::co_spawn(io,
                   lifecycle.run_hooks(ShutdownBudget{}, [&](const std::string& e) { reports.push_back(e); }),
                   asio::detached);
    io.run();
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(order == std::vector<std::string>{"fast", "slow"});
    CHECK(reports == std::vector<std::string>{"broken hook"});
    CHECK(took < 400ms); // concurrent: the slow one's time, not the sum
}

TEST_CASE("lifecycle: a hook still running at the deadline is not waited for") {
    asio::io_context io;
    Lifecycle lifecycle(io.get_executor());
    lifecycle.on_shutdown([&io](ShutdownBudget) -> asio::awaitable<void> {
        asio::steady_timer t(io, 10s);
        co_await t.async_wait(asio::use_awaitable);
    });
    ShutdownBudget budget;
    budget.start = std::chrono::steady_clock::now() - ShutdownBudget::total + 50ms; // 50 ms left
    bool returned = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            co_await lifecycle.run_hooks(budget, [](const std::string&) {});
            returned = true;
            io.stop();
        },
        asio::detached);
    io.run();
    CHECK(returned);
}
