#pragma once
// The job queue: a bounded priority queue in front of a concurrency limit. Socket and HTTP clients share
// it. Jobs are plain data (a TurnRequest and options), so a broker-backed queue (Redis, several worker
// machines) can implement the same interface later.
#include "daemon/claude/run_types.hpp"
#include "daemon/lifecycle.hpp"
#include "daemon/process/child_process.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

struct JobOptions {
    int priority = 5; // 0..9, lower runs first; equal priorities run in submission order
};

class Job {
public:
    enum class State { queued, running, done };

    Job(std::string id, TurnRequest request, JobOptions options, asio::any_io_executor executor);

    const std::string& id() const { return id_; }
    const TurnRequest& request() const { return request_; }
    const JobOptions& options() const { return options_; }
    State state() const { return state_; }
    std::chrono::system_clock::time_point submitted_at() const { return submitted_at_; }
    std::optional<std::chrono::system_clock::time_point> started_at() const { return started_at_; }

    // Completes when the job is done (run, failed, or cancelled).
    asio::awaitable<TurnResult> wait();

    // Stops the job: a queued job never starts; a running one has its process group killed.
    void cancel(std::optional<std::chrono::milliseconds> grace = std::nullopt);

private:
    friend class InProcessJobQueue;
    void finish(TurnResult result);

    std::string id_;
    TurnRequest request_;
    JobOptions options_;
    State state_ = State::queued;
    std::chrono::system_clock::time_point submitted_at_ = std::chrono::system_clock::now();
    std::optional<std::chrono::system_clock::time_point> started_at_;
    std::shared_ptr<ChildControl> control_ = std::make_shared<ChildControl>();
    std::optional<TurnResult> result_;
    AsyncSignal done_;
    std::function<void(Job&)> on_cancel_queued_; // set by the queue while the job waits
};

struct QueueStats {
    std::size_t running = 0;
    std::size_t pending = 0;
    std::size_t max_concurrent = 0;
    std::size_t max_pending = 0;
};

class JobQueue {
public:
    virtual ~JobQueue() = default;
    // nullptr when the queue is full (or closed): the caller reports QUEUE_FULL / 429.
    virtual std::shared_ptr<Job> submit(TurnRequest request, JobOptions options) = 0;
    // Shutdown: refuse new jobs, cancel queued ones, kill running ones within `grace`.
    virtual void close_and_cancel_all(std::chrono::milliseconds grace) = 0;
    // Waits until no job runs (or the deadline passes).
    virtual asio::awaitable<void> wait_idle(std::chrono::steady_clock::time_point deadline) = 0;
    virtual QueueStats stats() const = 0;
};

} // namespace ksid::daemon
