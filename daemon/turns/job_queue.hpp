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
#include <vector>

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
    // The session it was asked to resume and could not (it lives on a worker that is gone): the turn runs
    // the replayed conversation in a new session.
    const std::optional<std::string>& replayed_session() const { return replayed_session_; }

    // Completes when the job is done (run, failed, or cancelled).
    asio::awaitable<TurnOutcome> wait();
    // Completes when the queue has taken the job (the in-process queue: at once) or refused it: a broker's
    // queue answers after a round trip (full, unreachable, the session's worker gone); the job is then done
    // with that error.
    asio::awaitable<boost::system::error_code> accepted();

    // Stops the job: a queued job never starts; a running one is cancelled (its process group killed,
    // its upstream call closed). reason: errc::cancelled (the requester left) or errc::shutting_down.
    void cancel(errc reason = errc::cancelled, std::optional<std::chrono::milliseconds> grace = std::nullopt);

private:
    friend class InProcessJobQueue;
    friend class RedisJobQueue;
    void finish(TurnOutcome outcome);
    void accept() {
        accepted_ = true;
        done_.notify();
    }

    std::string id_;
    TurnRequest request_;
    TurnEventSink events_;
    State state_ = State::queued;
    std::chrono::system_clock::time_point submitted_at_ = std::chrono::system_clock::now();
    std::optional<std::chrono::system_clock::time_point> started_at_;
    std::shared_ptr<CancellationToken> cancel_ = std::make_shared<CancellationToken>();
    std::optional<TurnOutcome> outcome_;
    bool accepted_ = false;
    std::optional<std::string> replayed_session_;
    AsyncSignal done_;
    std::function<void(Job&, errc)> on_cancel_queued_; // set by the queue while the job waits
};

// A worker daemon as a front sees it in Redis.
struct WorkerStats {
    std::string name;
    bool alive = false;
    std::uint64_t running = 0, claimed = 0, reclaimed = 0, failed = 0, completed = 0;
    double lag_seconds = 0; // the last claimed job's wait between submission and claim
};

struct QueueStats {
    std::size_t running = 0;
    std::size_t pending = 0;
    std::size_t max_concurrent = 0;
    std::size_t max_pending = 0;
    // A broker-backed queue ("" for the in-process one): its address, the jobs waiting there (all fronts),
    // and its workers.
    std::string broker;
    std::size_t broker_depth = 0;
    bool broker_up = true;
    std::vector<WorkerStats> workers;
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
