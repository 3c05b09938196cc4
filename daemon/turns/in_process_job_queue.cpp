#include "daemon/turns/in_process_job_queue.hpp"

#include "daemon/core/ids.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace ksid::daemon {

Job::Job(std::string id, TurnRequest request, TurnEventSink events, asio::any_io_executor executor)
    : id_(std::move(id)), request_(std::move(request)), events_(std::move(events)), done_(executor) {}

asio::awaitable<TurnOutcome> Job::wait() {
    while (!outcome_)
        co_await done_.wait();
    co_return *outcome_;
}

asio::awaitable<boost::system::error_code> Job::accepted() {
    while (!accepted_ && !outcome_)
        co_await done_.wait();
    if (accepted_) co_return boost::system::error_code{};
    co_return outcome_->error ? outcome_->error : make_error_code(errc::internal);
}

void Job::cancel(errc reason, std::optional<std::chrono::milliseconds> grace) {
    if (state_ == State::done) return;
    if (state_ == State::queued && on_cancel_queued_) {
        on_cancel_queued_(*this, reason);
        return;
    }
    cancel_->cancel(reason, grace);
}

void Job::finish(TurnOutcome outcome) {
    state_ = State::done;
    outcome_ = std::move(outcome);
    on_cancel_queued_ = nullptr;
    events_ = nullptr; // nothing more to report; releases what the sink holds
    done_.notify();
}

InProcessJobQueue::InProcessJobQueue(asio::any_io_executor executor, TurnBackend& backend,
                                     std::size_t max_concurrent, std::size_t max_pending,
                                     std::shared_ptr<spdlog::logger> log)
    : executor_(executor), backend_(backend), max_concurrent_(max_concurrent), max_pending_(max_pending),
      log_(std::move(log)), idle_(executor) {}

result<std::shared_ptr<Job>> InProcessJobQueue::submit(TurnRequest request, TurnEventSink events) {
    if (closed_) return errc::shutting_down;
    const bool slot_free = running_.size() < max_concurrent_ && pending_.empty();
    if (!slot_free && pending_.size() >= max_pending_) return errc::queue_full;
    const int priority = request.priority;
    auto job = std::make_shared<Job>(short_process_id(), std::move(request), std::move(events), executor_);
    job->accepted_ = true;
    const auto key = std::pair{priority, sequence_++};
    pending_.emplace(key, job);
    job->on_cancel_queued_ = [this, key](Job& j, errc reason) {
        pending_.erase(key);
        j.finish(TurnOutcome::failure(reason, "cancelled before it started"));
    };
    start_ready_jobs();
    return job;
}

void InProcessJobQueue::start_ready_jobs() {
    while (running_.size() < max_concurrent_ && !pending_.empty()) {
        auto job = pending_.begin()->second;
        pending_.erase(pending_.begin());
        job->on_cancel_queued_ = nullptr;
        job->state_ = Job::State::running;
        job->started_at_ = std::chrono::system_clock::now();
        running_.insert(job);
        asio::co_spawn(executor_, execute(job), asio::detached);
    }
}

asio::awaitable<void> InProcessJobQueue::execute(std::shared_ptr<Job> job) {
    TurnOutcome outcome;
    try { // an exception never crosses the job boundary
        outcome = co_await backend_.run(job->request_, job->events_, job->cancel_);
    } catch (const std::exception& e) {
        log_->error("Job {} failed inside ksid: {}", job->id(), e.what());
        outcome = TurnOutcome::failure(errc::internal, e.what());
    }
    running_.erase(job);
    job->finish(std::move(outcome));
    if (running_.empty()) idle_.notify();
    start_ready_jobs();
}

void InProcessJobQueue::close_and_cancel_all(std::chrono::milliseconds grace) {
    closed_ = true;
    while (!pending_.empty())
        pending_.begin()->second->cancel(errc::shutting_down);
    for (const auto& job : std::vector(running_.begin(), running_.end()))
        job->cancel(errc::shutting_down, grace);
}

asio::awaitable<void> InProcessJobQueue::wait_idle(std::chrono::steady_clock::time_point deadline) {
    while (!running_.empty() && std::chrono::steady_clock::now() < deadline)
        co_await idle_.wait_until(deadline);
}

void InProcessJobQueue::set_limits(std::size_t max_concurrent, std::size_t max_pending) {
    max_concurrent_ = max_concurrent;
    max_pending_ = max_pending;
    start_ready_jobs();
}

QueueStats InProcessJobQueue::stats() const {
    return {running_.size(), pending_.size(), max_concurrent_, max_pending_};
}

} // namespace ksid::daemon
