#include "daemon/process/child_process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <csignal>

using namespace ksid::daemon;
using namespace std::chrono_literals;

namespace {
ChildOutcome run(ChildSpec spec, std::shared_ptr<CancellationToken> cancel = nullptr,
                 std::chrono::milliseconds cancel_after = 0ms) {
    asio::io_context io;
    ChildOutcome out;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { out = co_await run_child(spec, cancel); }, asio::detached);
    asio::steady_timer t(io, cancel_after);
    if (cancel && cancel_after > 0ms) t.async_wait([&](auto) { cancel->cancel(errc::cancelled); });
    io.run();
    return out;
}
} // namespace

TEST_CASE("child: stdin in, stdout and stderr out, exit status") {
    ChildSpec spec;
    spec.argv = {"/bin/sh", "-c", "cat; echo oops >&2; exit 3"};
    spec.stdin_data = "hello";
    auto out = run(spec);
    CHECK(out.status == ChildOutcome::Status::exited);
    CHECK(out.returncode() == 3);
    CHECK(out.stdout_data == "hello");
    CHECK(out.stderr_data == "oops\n");
}

TEST_CASE("child: not found, time limit, output limit, cancellation") {
    ChildSpec missing;
    missing.argv = {"ksid-no-such-command-here"};
    auto nf = run(missing);
    CHECK(nf.status == ChildOutcome::Status::spawn_failed);
    CHECK(nf.spawn_errno == ENOENT);

    ChildSpec slow;
    slow.argv = {"/bin/sh", "-c", "trap '' TERM; sleep 10"};
    slow.time_limit = 100ms;
    slow.kill_grace = 100ms;
    const auto started = std::chrono::steady_clock::now();
    auto t = run(slow);
    CHECK(t.status == ChildOutcome::Status::timed_out);
    CHECK(t.returncode() == -SIGKILL); // it ignored SIGTERM
    CHECK(std::chrono::steady_clock::now() - started < 2s);

    ChildSpec loud;
    loud.argv = {"/bin/sh", "-c", "yes"};
    loud.max_output_bytes = 64 * 1024;
    auto big = run(loud);
    CHECK(big.status == ChildOutcome::Status::output_too_large);
    CHECK(big.stdout_data.size() <= 64 * 1024);

    ChildSpec hang;
    hang.argv = {"/bin/sh", "-c", "sleep 10"};
    auto cancel = std::make_shared<CancellationToken>();
    auto c = run(hang, cancel, 50ms);
    CHECK(c.status == ChildOutcome::Status::cancelled);
    CHECK(c.returncode() == -SIGTERM);
}
