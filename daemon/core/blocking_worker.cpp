#include "daemon/core/blocking_worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <new>

namespace ksid::daemon {
namespace asio = boost::asio;

namespace {

std::error_code run_guarded(const std::function<std::error_code()>& job) {
    try {
        return job();
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (...) {
        return std::make_error_code(std::errc::io_error);
    }
}

} // namespace

asio::awaitable<std::error_code> BlockingWorker::run(std::function<std::error_code()> job) {
    auto token = asio::as_tuple(asio::use_awaitable);
    // Named, not a temporary of the co_await expression (GCC 12 mis-handles those).
    auto initiation = [this, &job](auto handler) {
        // The loop is kept alive (outstanding work) until the completion is back on it.
        auto back = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(
            pool_, [job = std::move(job), handler = std::move(handler), back = std::move(back)]() mutable {
                const std::error_code result = run_guarded(job);
                auto executor = back.get_executor();
                asio::post(executor, [handler = std::move(handler), result,
                                      back = std::move(back)]() mutable { std::move(handler)(result); });
            });
    };
    auto [ec] = co_await asio::async_initiate<decltype(token), void(std::error_code)>(initiation, token);
    co_return ec;
}

} // namespace ksid::daemon
