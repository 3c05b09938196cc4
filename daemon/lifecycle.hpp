#pragma once
// Shutdown coordination. Anything may request shutdown (SIGTERM/SIGINT, the SHUTDOWN command); services
// register hooks that stop their work (cancel jobs, kill children) and the daemon awaits them with a
// deadline before it removes its files and exits.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ksid::daemon {

namespace asio = boost::asio;

class Lifecycle {
public:
    using Hook = std::function<asio::awaitable<void>()>;

    explicit Lifecycle(asio::any_io_executor executor);

    void request_shutdown(std::string reason); // idempotent; the first reason wins
    bool stopping() const { return stopping_; }
    const std::string& reason() const { return reason_; }

    // Hooks run concurrently when shutdown starts; each must finish within the shutdown grace.
    void on_shutdown(Hook hook) { hooks_.push_back(std::move(hook)); }
    const std::vector<Hook>& hooks() const { return hooks_; }

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
