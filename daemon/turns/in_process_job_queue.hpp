#pragma once
// The in-process JobQueue: jobs run on this daemon's event loop through a TurnBackend.
#include "daemon/turns/job_queue.hpp"
#include "daemon/turns/turn_backend.hpp"

#include <spdlog/logger.h>

#include <map>
#include <unordered_set>

namespace ksid::daemon {

class InProcessJobQueue final : public JobQueue {
public:
    InProcessJobQueue(asio::any_io_executor executor, TurnBackend& backend, std::size_t max_concurrent,
                      std::size_t max_pending, std::shared_ptr<spdlog::logger> log);

    result<std::shared_ptr<Job>> submit(TurnRequest request, TurnEventSink events) override;
    void close_and_cancel_all(std::chrono::milliseconds grace) override;
    asio::awaitable<void> wait_idle(std::chrono::steady_clock::time_point deadline) override;
    QueueStats stats() const override;
    // SIGHUP: new bounds; a raised max_concurrent starts waiting jobs now, a lowered one lets running jobs
    // finish. Jobs already waiting stay queued when max_pending drops.
    void set_limits(std::size_t max_concurrent, std::size_t max_pending);

private:
    void start_ready_jobs();
    asio::awaitable<void> execute(std::shared_ptr<Job> job);

    asio::any_io_executor executor_;
    TurnBackend& backend_;
    std::size_t max_concurrent_;
    std::size_t max_pending_;
    std::shared_ptr<spdlog::logger> log_;
    std::map<std::pair<int, std::uint64_t>, std::shared_ptr<Job>> pending_; // (priority, sequence)
    std::unordered_set<std::shared_ptr<Job>> running_;
    std::uint64_t sequence_ = 0;
    bool closed_ = false;
    AsyncSignal idle_;
};

} // namespace ksid::daemon
