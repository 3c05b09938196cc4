#include "daemon/core/lifecycle.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

namespace ksid::daemon {

Lifecycle::Lifecycle(asio::any_io_executor executor)
    : signal_(executor, asio::steady_timer::time_point::max()) {}

void Lifecycle::request_shutdown(std::string reason) {
    if (stopping_) return;
    stopping_ = true;
    reason_ = std::move(reason);
    signal_.cancel();
}

asio::awaitable<void> Lifecycle::wait_for_shutdown_request() {
    while (!stopping_)
        co_await signal_.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> Lifecycle::run_hooks(ShutdownBudget budget,
                                           std::function<void(const std::string&)> report) {
    auto executor = co_await asio::this_coro::executor;
    auto running = std::make_shared<std::size_t>(hooks_.size());
    auto done = std::make_shared<AsyncSignal>(executor);
    for (const auto& hook : hooks_)
        asio::co_spawn(executor, hook(budget), [running, done, report](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    report(ex.what());
                }
            }
            if (--*running == 0) done->notify();
        });
    while (*running > 0 && ShutdownBudget::Clock::now() < budget.deadline())
        co_await done->wait_until(budget.deadline());
}

AsyncSignal::AsyncSignal(asio::any_io_executor executor)
    : timer_(executor, asio::steady_timer::time_point::max()) {}

asio::awaitable<void> AsyncSignal::wait() {
    // Setting the expiry cancels pending waits, so leave it alone when it is already "never": several
    // coroutines may wait on one signal.
    if (timer_.expiry() != asio::steady_timer::time_point::max())
        timer_.expires_at(asio::steady_timer::time_point::max());
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> AsyncSignal::wait_until(asio::steady_timer::time_point deadline) {
    timer_.expires_at(deadline);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

} // namespace ksid::daemon
