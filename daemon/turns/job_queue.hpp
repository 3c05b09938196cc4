#pragma once
// The job queue: a bounded priority queue in front of a concurrency limit. Socket and HTTP clients share
// it. A job is plain data (a TurnRequest and its priority) plus the sink for its events, so a
// broker-backed queue (Redis, several worker machines) can implement the same interface.
#include "daemon/core/cancellation.hpp"
#include "daemon/core/lifecycle.hpp"
#include "daemon/turns/turn_events.hpp"
#include "daemon/turns/turn_outcome.hpp"
#include "daemon/turns/turn_request.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

class Job {
public:
    enum class State { queued, running, done };

    Job(std::string id, TurnRequest request, TurnEventSink events, asio::any_io_executor executor);

    const std::string& id() const { return id_; }
    const TurnRequest& request() const { return request_; }
    State state() const { return state_; }
    std::chrono::system_clock::time_point submitted_at() const { return submitted_at_; }
    std::optional<std::chrono::system_clock::time_point> started_at() const { return started_at_; }

    // Completes when the job is done (run, failed, or cancelled).
    asio::awaitable<TurnOutcome> wait();

    // Stops the job: a queued job never starts; a running one is cancelled (its process group killed,
    // its upstream call closed). reason: errc::cancelled (the requester left) or errc::shutting_down.
    void cancel(errc reason = errc::cancelled, std::optional<std::chrono::milliseconds> grace = std::nullopt);

private:
    friend class InProcessJobQueue;
    void finish(TurnOutcome outcome);

    std::string id_;
    TurnRequest request_;
    TurnEventSink events_;
    State state_ = State::queued;
    std::chrono::system_clock::time_point submitted_at_ = std::chrono::system_clock::now();
    std::optional<std::chrono::system_clock::time_point> started_at_;
    std::shared_ptr<CancellationToken> cancel_ = std::make_shared<CancellationToken>();
    std::optional<TurnOutcome> outcome_;
    AsyncSignal done_;
    std::function<void(Job&, errc)> on_cancel_queued_; // set by the queue while the job waits
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
    // errc::queue_full when the queue is full, errc::shutting_down once it is closed.
    virtual result<std::shared_ptr<Job>> submit(TurnRequest request, TurnEventSink events) = 0;
    // Shutdown: refuse new jobs, cancel queued ones, stop running ones within `grace`.
    virtual void close_and_cancel_all(std::chrono::milliseconds grace) = 0;
    // Waits until no job runs (or the deadline passes).
    virtual asio::awaitable<void> wait_idle(std::chrono::steady_clock::time_point deadline) = 0;
    virtual QueueStats stats() const = 0;
};

} // namespace ksid::daemon
