#pragma once
// Shutdown coordination. Anything may request shutdown (SIGTERM/SIGINT, the SHUTDOWN command); services
// register hooks that stop their work (cancel jobs, kill children), and the daemon runs them concurrently
// within one ShutdownBudget before it removes its files and exits.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace ksid::daemon {

namespace asio = boost::asio;

// The one shutdown budget: ksid exits within 5 s of a shutdown request whatever its settings (spec §2.4).
// Every sub-deadline derives from its start:
//   0 ms          stop accepting; children get SIGTERM, upstream calls are closed
//   child_grace   SIGKILL to children still running: the configured grace, at most 3000 ms
//   work_deadline services stop waiting for their children (SIGKILL + reaping fit before it): 3500 ms
//   http_deadline the facade closes connections still busy: 4000 ms
//   deadline      socket connections still busy are closed, files removed, exit: 4500 ms
struct ShutdownBudget {
    using Clock = std::chrono::steady_clock;
    using ms = std::chrono::milliseconds;
    static constexpr ms total{4500};
    static constexpr ms max_child_grace{3000};
    static constexpr ms reap_margin{500};
    static constexpr ms http_margin{500};

    Clock::time_point start = Clock::now();

    Clock::time_point deadline() const { return start + total; }
    Clock::time_point work_deadline() const { return start + max_child_grace + reap_margin; }
    Clock::time_point http_deadline() const { return work_deadline() + http_margin; }
    // SIGTERM → SIGKILL for children: `configured`, but never past what the budget leaves.
    ms child_grace(ms configured) const { return std::min(configured, max_child_grace); }
};

class Lifecycle {
public:
    using Hook =
        std::function<asio::awaitable<void>(ShutdownBudget)>; // by value: a hook may outlive the sequence

    explicit Lifecycle(asio::any_io_executor executor);

    void request_shutdown(std::string reason); // idempotent; the first reason wins
    bool stopping() const { return stopping_; }
    const std::string& reason() const { return reason_; }

    // Hooks run concurrently when shutdown starts; each finishes by the budget's deadlines.
    void on_shutdown(Hook hook) { hooks_.push_back(std::move(hook)); }
    // Runs every hook concurrently and waits for them until the budget's deadline. A hook that throws is
    // logged by `report` and does not stop the others.
    asio::awaitable<void> run_hooks(ShutdownBudget budget, std::function<void(const std::string&)> report);

    asio::awaitable<void> wait_for_shutdown_request();

private:
    asio::steady_timer signal_;
    bool stopping_ = false;
    std::string reason_;
    std::vector<Hook> hooks_;
};

// A level-triggered wake-up for coroutines on one executor: waiters re-check their condition after waking.
class AsyncSignal {
public:
    explicit AsyncSignal(asio::any_io_executor executor);
    void notify() { timer_.cancel(); }
    asio::awaitable<void> wait();
    // Waits until notified or the deadline passes (for a signal with a single waiter).
    asio::awaitable<void> wait_until(asio::steady_timer::time_point deadline);

private:
    asio::steady_timer timer_;
};

} // namespace ksid::daemon
