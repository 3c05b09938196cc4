#pragma once
// One thread for file work that can take long (writing and fsyncing a state file that grows), so that the
// event loop never waits for the disk. Nothing is shared with it: a job owns what it was given (by value),
// and only its error code comes back, as a completion posted to the awaiting coroutine's executor. So the
// one-loop, no-locks rule holds for everything ksid's own code touches.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <system_error>

namespace ksid::daemon {

class BlockingWorker {
public:
    BlockingWorker() : pool_(1) {}
    // Waits for the jobs already handed over (a state file being written is finished, not torn).
    ~BlockingWorker() { pool_.join(); }
    BlockingWorker(const BlockingWorker&) = delete;
    BlockingWorker& operator=(const BlockingWorker&) = delete;

    // Runs `job` on the worker thread, in the order jobs were handed over, and resumes the caller on its
    // own executor with the job's result. A job that throws yields errc::io_error (not_enough_memory for
    // bad_alloc).
    boost::asio::awaitable<std::error_code> run(std::function<std::error_code()> job);

private:
    boost::asio::thread_pool pool_;
};

} // namespace ksid::daemon
