#include "daemon/jobs/in_process_job_queue.hpp"

#include "daemon/ids.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace ksid::daemon {

Job::Job(std::string id, TurnRequest request, JobOptions options, asio::any_io_executor executor)
    : id_(std::move(id)), request_(std::move(request)), options_(options), done_(executor) {}

asio::awaitable<TurnResult> Job::wait() {
    while (!result_) co_await done_.wait();
    co_return *result_;
}

void Job::cancel(std::optional<std::chrono::milliseconds> grace) {
    if (state_ == State::done) return;
    if (state_ == State::queued && on_cancel_queued_) {
        on_cancel_queued_(*this);
        return;
    }
    control_->cancel(grace);
}

void Job::finish(TurnResult result) {
    state_ = State::done;
    result_ = std::move(result);
    on_cancel_queued_ = nullptr;
    done_.notify();
}

InProcessJobQueue::InProcessJobQueue(asio::any_io_executor executor, ClaudeBackend& backend,
                                     std::size_t max_concurrent, std::size_t max_pending,
                                     std::shared_ptr<spdlog::logger> log)
    : executor_(executor), backend_(backend), max_concurrent_(max_concurrent), max_pending_(max_pending),
      log_(std::move(log)), idle_(executor) {}

std::shared_ptr<Job> InProcessJobQueue::submit(TurnRequest request, JobOptions options) {
    if (closed_) return nullptr;
    const bool slot_free = running_.size() < max_concurrent_ && pending_.empty();
    if (!slot_free && pending_.size() >= max_pending_) return nullptr;
    auto job = std::make_shared<Job>(short_process_id(), std::move(request), options, executor_);
    const auto key = std::pair{options.priority, sequence_++};
    pending_.emplace(key, job);
    job->on_cancel_queued_ = [this, key](Job& j) {
        pending_.erase(key);
        TurnResult r;
        r.status = TurnResult::Status::cancelled;
        r.detail = "cancelled before it started";
        r.returncode = -15;
        j.finish(std::move(r));
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
    TurnResult result;
    try {
        result = co_await backend_.run(job->request_, job->control_);
    } catch (const std::exception& e) {
        log_->error("Job {} failed inside ksid: {}", job->id(), e.what());
        result.status = TurnResult::Status::spawn_failed;
        result.detail = e.what();
    }
    running_.erase(job);
    job->finish(std::move(result));
    if (running_.empty()) idle_.notify();
    start_ready_jobs();
}

void InProcessJobQueue::close_and_cancel_all(std::chrono::milliseconds grace) {
    closed_ = true;
    while (!pending_.empty()) pending_.begin()->second->cancel();
    for (const auto& job : std::vector(running_.begin(), running_.end())) job->cancel(grace);
}

asio::awaitable<void> InProcessJobQueue::wait_idle(std::chrono::steady_clock::time_point deadline) {
    while (!running_.empty() && std::chrono::steady_clock::now() < deadline) co_await idle_.wait_until(deadline);
}

QueueStats InProcessJobQueue::stats() const {
    return {running_.size(), pending_.size(), max_concurrent_, max_pending_};
}

} // namespace ksid::daemon
