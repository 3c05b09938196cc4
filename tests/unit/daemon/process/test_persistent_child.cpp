#include "daemon/process/persistent_child.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <csignal>

using namespace ksid::daemon;
using namespace std::chrono_literals;

TEST_CASE("persistent child: lines in over time, output as it arrives, stop") {
    asio::io_context io;
    std::string out;
    bool exited = false;
    int error = 0;
    auto child = PersistentChild::start(io.get_executor(), {{"/bin/cat"}, ""},
                                        [&](std::string_view b) { out.append(b); }, [&] { exited = true; }, error);
    REQUIRE(child);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            CHECK(child->write("one\n"));
            asio::steady_timer t(io, 100ms);
            co_await t.async_wait(asio::use_awaitable);
            CHECK(out == "one\n");
            CHECK(child->write("two\n"));
            CHECK(child->write("three\n")); // queued behind two, in order
            t.expires_after(100ms);
            co_await t.async_wait(asio::use_awaitable);
            CHECK(out == "one\ntwo\nthree\n");
            CHECK(resident_memory_by_group()[child->pid()] > 0);
            child->stop(1s);
            co_await child->wait_exit(std::chrono::steady_clock::now() + 5s);
        },
        asio::detached);
    io.run();
    CHECK(exited);
    CHECK(child->exited());
    CHECK(child->returncode() == -SIGTERM);
    CHECK_FALSE(child->write("late\n"));
}

TEST_CASE("persistent child: a child that ignores SIGTERM is killed after the grace; errors on start") {
    asio::io_context io;
    int error = 0;
    auto child = PersistentChild::start(io.get_executor(), {{"/bin/sh", "-c", "trap '' TERM; echo ready; sleep 30"}, ""},
                                        [](std::string_view) {}, nullptr, error);
    REQUIRE(child);
    const auto started = std::chrono::steady_clock::now();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer t(io, 100ms);
            co_await t.async_wait(asio::use_awaitable);
            child->stop(200ms);
            co_await child->wait_exit(std::chrono::steady_clock::now() + 5s);
        },
        asio::detached);
    io.run();
    CHECK(child->returncode() == -SIGKILL);
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    CHECK(resident_memory_by_group()[child->pid()] == 0); // nothing alive left in its group

    auto missing =
        PersistentChild::start(io.get_executor(), {{"ksid-no-such-command"}, ""}, [](std::string_view) {}, nullptr, error);
    CHECK_FALSE(missing);
    CHECK(error == ENOENT);
}
