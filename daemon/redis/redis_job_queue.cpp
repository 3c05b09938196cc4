#include "daemon/redis/redis_job_queue.hpp"

#include "daemon/core/ids.hpp"
#include "daemon/turns/turn_wire.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

using namespace std::chrono_literals;

std::uint64_t hash_count(const RespValue& hash, std::string_view field) {
    if (!hash.is_array()) return 0;
    for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2)
        if (hash.elements[i].text == field) {
            auto v = hash.elements[i + 1].as_integer();
            return v && *v > 0 ? static_cast<std::uint64_t>(*v) : 0;
        }
    return 0;
}

} // namespace

RedisJobQueue::RedisJobQueue(asio::any_io_executor executor, BrokerSettings settings,
                             std::shared_ptr<spdlog::logger> log)
    : executor_(executor), settings_(std::move(settings)), keys_{settings_.prefix}, log_(std::move(log)),
      commands_(executor, settings_.address, "queue", log_),
      events_(executor, settings_.address, "events", log_), front_("f" + short_process_id()), idle_(executor),
      stop_(executor) {}

RedisJobQueue::~RedisJobQueue() {
    *alive_ = false;
}

void RedisJobQueue::start() {
    asio::co_spawn(executor_, read_events(), asio::detached);
    asio::co_spawn(executor_, watch(), asio::detached);
}

std::string RedisJobQueue::unreachable_text() const {
    const auto& why = commands_.last_error();
    return "the queue's broker " + settings_.address.text() + " cannot be reached" +
           (why.empty() ? std::string() : ": " + why);
}

result<std::shared_ptr<Job>> RedisJobQueue::submit(TurnRequest request, TurnEventSink events) {
    if (closed_) return errc::shutting_down;
    request.priority = std::clamp(request.priority, 0, broker_priorities - 1);
    auto job = std::make_shared<Job>(short_process_id(), std::move(request), std::move(events), executor_);
    std::string key = front_ + "-" + job->id();
    job->on_cancel_queued_ = [this, key](Job& j, errc reason) {
        auto* self = this; // finish() destroys this handler: nothing captured is used after it
        const bool sent = self->in_flight_.erase(key) > 0; // not yet in Redis: enqueue() sees it is done
        if (sent) self->request_cancel(key, reason);
        if (self->in_flight_.empty()) self->idle_.notify();
        j.finish(TurnOutcome::failure(reason, "cancelled before it started"));
    };
    asio::co_spawn(executor_, enqueue(job, std::move(key)), asio::detached);
    return job;
}

void RedisJobQueue::fail_before_queued(Job& job, errc e, std::string detail) {
    job.on_cancel_queued_ = nullptr;
    job.finish(TurnOutcome::failure(e, std::move(detail)));
}

asio::awaitable<void> RedisJobQueue::enqueue(std::shared_ptr<Job> job, std::string key) {
    auto alive = alive_;
    TurnRequest& request = job->request_;
    std::string target = keys_.priority_stream(request.priority);
    std::optional<std::string> replayed;
    if (request.resume_session) {
        // Claude Code keeps a session on the machine that ran it: resume it there.
        RedisCommand get{"GET", keys_.session(*request.resume_session)};
        auto holder = co_await commands_.command(std::move(get));
        if (!*alive || job->state() == Job::State::done) co_return;
        if (!holder) {
            fail_before_queued(*job, errc::broker_unavailable, unreachable_text());
            co_return;
        }
        if (holder->is_string()) {
            const std::string worker = holder->text;
            RedisCommand exists{"EXISTS", keys_.worker_alive(worker)};
            auto up = co_await commands_.command(std::move(exists));
            if (!*alive || job->state() == Job::State::done) co_return;
            if (!up) {
                fail_before_queued(*job, errc::broker_unavailable, unreachable_text());
                co_return;
            }
            if (up->as_integer().value_or(0) == 1) {
                target = keys_.worker_stream(worker);
            } else if (!request.replay_prompt.empty() || !request.replay_images.empty()) {
                log_->warn("Session {} lives on worker {}, which is gone: replaying the conversation in a "
                           "new session ({})",
                           *request.resume_session, worker, request.origin);
                replayed = request.resume_session;
                job->replayed_session_ = replayed;
                request.prompt = std::move(request.replay_prompt);
                request.images = std::move(request.replay_images);
                request.replay_prompt.clear();
                request.replay_images.clear();
                request.resume_session.reset();
            } else {
                fail_before_queued(
                    *job, errc::session_unavailable,
                    "session " + *request.resume_session + " lives on worker " + worker +
                        ", which is gone: Claude Code keeps a session's transcript on the machine "
                        "that ran it (share the workers' home directory, or start a new "
                        "session)");
                co_return;
            }
        }
    }
    Remote remote;
    remote.job = job;
    remote.replayed_session = replayed;
    in_flight_.emplace(key, std::move(remote)); // before the XADD: the next blocking read includes it
    std::vector<RedisCommand> commands;
    RedisCommand eval{"EVAL", enqueue_script, "12"};
    for (int p = 0; p < broker_priorities; ++p)
        eval.push_back(keys_.priority_stream(p));
    eval.push_back(target);
    eval.push_back(keys_.job(key));
    eval.push_back(std::to_string(settings_.max_pending));
    eval.push_back(broker_group);
    eval.push_back(key);
    eval.push_back(front_);
    eval.push_back(json::serialize(turn_request_to_json(request)));
    eval.push_back(std::to_string(protocol::unix_ms_now()));
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(request.time_limit).count() + 3600;
    eval.push_back(std::to_string(ttl));
    commands.push_back(std::move(eval));
    commands.push_back({"XADD", keys_.front_wake(front_), "MAXLEN", "~", "100", "*", "job", key});
    commands.push_back({"EXPIRE", keys_.front_wake(front_), "3600"});
    auto replies = co_await commands_.pipeline(std::move(commands));
    if (!*alive) co_return;
    if (job->state() == Job::State::done) { // its requester left while it was being queued
        if (replies && replies->front().as_integer().value_or(0) == 1) request_cancel(key, errc::cancelled);
        co_return;
    }
    auto refuse = [&](errc e, std::string detail) {
        in_flight_.erase(key);
        fail_before_queued(*job, e, std::move(detail));
        if (in_flight_.empty()) idle_.notify();
    };
    if (!replies) co_return refuse(errc::broker_unavailable, unreachable_text());
    const auto& queued = replies->front();
    if (queued.is_error()) co_return refuse(errc::internal, "Redis refused the job: " + queued.text);
    if (queued.as_integer().value_or(0) != 1)
        co_return refuse(errc::queue_full, "the broker's queue is full (" +
                                               std::to_string(settings_.max_pending) +
                                               " waiting, queue.max_pending)");
    job->accept();
}

void RedisJobQueue::request_cancel(const std::string& key, errc reason) {
    auto command = std::make_shared<RedisCommand>(
        RedisCommand{"SET", keys_.job_cancel(key), std::to_string(static_cast<int>(reason)), "EX", "3600"});
    auto alive = alive_;
    asio::co_spawn(
        executor_,
        [this, command, alive, key]() -> asio::awaitable<void> {
            auto r = co_await commands_.command(std::move(*command));
            if (*alive && !r)
                log_->warn("Cannot tell the workers to stop job {}: {}", key, unreachable_text());
        },
        asio::detached);
}

void RedisJobQueue::complete(const std::string& key, TurnOutcome outcome) {
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;
    auto job = it->second.job;
    if (it->second.replayed_session) outcome.replayed_session = it->second.replayed_session;
    in_flight_.erase(it);
    job->on_cancel_queued_ = nullptr;
    job->cancel_->set_cancel_handler(nullptr);
    job->finish(std::move(outcome));
    if (in_flight_.empty()) idle_.notify();
    auto cleanup = std::make_shared<std::vector<RedisCommand>>();
    cleanup->push_back({"DEL", keys_.job_events(key), keys_.job(key), keys_.job_cancel(key)});
    asio::co_spawn(
        executor_,
        [this, cleanup]() -> asio::awaitable<void> {
            (void)co_await commands_.pipeline(std::move(*cleanup));
        },
        asio::detached);
}

void RedisJobQueue::handle_event(const std::string& key, Remote& remote, std::string_view text) {
    auto parsed = protocol::parse_json_text(text, 64);
    if (!parsed || !parsed->is_object()) {
        log_->error("Job {}: an event that is not JSON from the broker; ignored", key);
        return;
    }
    const auto& o = parsed->get_object();
    const auto* type = o.if_contains("type");
    const std::string_view kind = type && type->is_string() ? std::string_view(type->get_string()) : "";
    if (kind == "running") { // a worker started the run
        if (remote.started) return;
        remote.started = true;
        auto& job = *remote.job;
        job.on_cancel_queued_ = nullptr;
        job.state_ = Job::State::running;
        job.started_at_ = std::chrono::system_clock::now();
        std::weak_ptr<CancellationToken> token = job.cancel_;
        job.cancel_->set_cancel_handler([this, key, token] {
            if (auto t = token.lock()) request_cancel(key, t->reason());
        });
        if (job.cancel_->cancelled()) request_cancel(key, job.cancel_->reason());
        return;
    }
    if (kind == "outcome") {
        auto outcome = turn_outcome_from_json(*parsed);
        if (!outcome) {
            complete(key, TurnOutcome::failure(errc::internal, "the worker's outcome could not be read"));
            return;
        }
        complete(key, std::move(*outcome));
        return;
    }
    auto event = turn_event_from_json(*parsed);
    if (!event) {
        log_->warn("Job {}: an event of unknown type '{}' from the worker; ignored", key, kind);
        return;
    }
    if (remote.job->events_) remote.job->events_(*event);
}

asio::awaitable<void> RedisJobQueue::read_events() {
    auto alive = alive_;
    const std::string wake = keys_.front_wake(front_);
    while (*alive && !stopping_loops_) {
        RedisCommand read{"XREAD", "COUNT", "512", "BLOCK", "1000", "STREAMS", wake};
        std::vector<std::string> keys;
        for (const auto& [key, remote] : in_flight_) {
            read.push_back(keys_.job_events(key));
            keys.push_back(key);
        }
        read.push_back("$");
        for (const auto& key : keys)
            read.push_back(in_flight_.at(key).last_event);
        auto reply = co_await events_.command(std::move(read), 5s);
        if (!*alive) co_return;
        if (!reply || reply->is_error()) {
            if (reply) log_->warn("Redis refused XREAD: {}", reply->text);
            co_await pause_for(250ms);
            continue;
        }
        if (!reply->is_array()) continue; // the block timed out
        const std::string events_prefix = keys_.prefix + ":job:";
        for (const auto& stream : reply->elements) {
            if (!stream.is_array() || stream.elements.size() != 2) continue;
            const std::string& name = stream.elements[0].text;
            if (name == wake || !name.starts_with(events_prefix) || !name.ends_with(":events")) continue;
            const std::string key = name.substr(events_prefix.size(), name.size() - events_prefix.size() -
                                                                          std::string_view(":events").size());
            for (const auto& entry : stream.elements[1].elements) {
                auto it = in_flight_.find(key);
                if (it == in_flight_.end()) break; // finished (or given up) meanwhile
                if (!entry.is_array() || entry.elements.size() != 2) continue;
                it->second.last_event = entry.elements[0].text;
                const auto& fields = entry.elements[1].elements;
                for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
                    if (fields[i].text == "event") handle_event(key, it->second, fields[i + 1].text);
            }
        }
    }
}

asio::awaitable<void> RedisJobQueue::watch() {
    auto alive = alive_;
    while (*alive && !stopping_loops_) {
        co_await pause_for(1s);
        if (!*alive) co_return;
        // The queue's depth and the workers, for /metrics; the in-flight jobs' state, to answer the ones
        // nobody will answer (their worker is gone, or Redis lost them).
        std::vector<RedisCommand> commands;
        for (int p = 0; p < broker_priorities; ++p) {
            commands.push_back({"XLEN", keys_.priority_stream(p)});
            commands.push_back({"XPENDING", keys_.priority_stream(p), broker_group});
        }
        commands.push_back({"SMEMBERS", keys_.workers()});
        std::vector<std::string> checked;
        for (const auto& [key, remote] : in_flight_) {
            if (!remote.job->accepted_) continue; // still being queued
            commands.push_back({"HMGET", keys_.job(key), "state", "worker"});
            checked.push_back(key);
        }
        auto replies = co_await commands_.pipeline(std::move(commands));
        if (!*alive) co_return;
        const auto now = std::chrono::steady_clock::now();
        if (!replies) {
            if (broker_up_) down_since_ = now;
            broker_up_ = false;
            // Nothing can be answered while Redis is away; after two visibility timeouts stop waiting.
            if (now - down_since_ > 2 * settings_.visibility_timeout && !in_flight_.empty()) {
                log_->error("Redis unreachable for {} s: answering {} job(s) in flight with an error",
                            std::chrono::duration_cast<std::chrono::seconds>(now - down_since_).count(),
                            in_flight_.size());
                std::vector<std::string> all;
                for (const auto& [key, remote] : in_flight_)
                    if (remote.job->accepted_) all.push_back(key);
                for (const auto& key : all)
                    complete(key, TurnOutcome::failure(errc::broker_unavailable,
                                                       "lost contact with the queue's broker " +
                                                           settings_.address.text() +
                                                           " while the turn was queued or ran"));
            }
            continue;
        }
        broker_up_ = true;
        std::size_t depth = 0;
        for (int p = 0; p < broker_priorities; ++p) {
            const auto len = (*replies)[2 * p].as_integer().value_or(0);
            const auto& pending = (*replies)[2 * p + 1];
            const auto claimed = pending.is_array() && !pending.elements.empty()
                                     ? pending.elements[0].as_integer().value_or(0)
                                     : 0;
            depth += static_cast<std::size_t>(std::max<long long>(len - claimed, 0));
        }
        depth_ = depth;
        const auto& names = (*replies)[2 * broker_priorities];
        std::size_t next = 2 * broker_priorities + 1;
        std::vector<std::pair<std::string, std::string>> running_on; // (job, the worker running it)
        for (std::size_t i = 0; i < checked.size(); ++i, ++next) {
            auto it = in_flight_.find(checked[i]);
            if (it == in_flight_.end()) continue;
            const auto& fields = (*replies)[next];
            if (!fields.is_array() || fields.elements.size() != 2) continue;
            if (fields.elements[0].is_nil()) {
                complete(checked[i],
                         TurnOutcome::failure(errc::broker_unavailable,
                                              "the broker lost the job (was Redis restarted without "
                                              "its data?)"));
                continue;
            }
            if (fields.elements[0].text == "running")
                running_on.emplace_back(checked[i], fields.elements[1].text);
        }
        // Workers and whether those running our jobs are alive.
        std::vector<RedisCommand> about;
        std::vector<std::string> worker_names;
        if (names.is_array())
            for (const auto& n : names.elements) {
                worker_names.push_back(n.text);
                about.push_back({"HGETALL", keys_.worker_stats(n.text)});
                about.push_back({"EXISTS", keys_.worker_alive(n.text)});
            }
        auto more = co_await commands_.pipeline(std::move(about));
        if (!*alive) co_return;
        if (!more) continue;
        std::vector<WorkerStats> workers;
        std::map<std::string, bool> up;
        for (std::size_t i = 0; i < worker_names.size(); ++i) {
            const auto& h = (*more)[2 * i];
            WorkerStats w;
            w.name = worker_names[i];
            w.alive = (*more)[2 * i + 1].as_integer().value_or(0) == 1;
            w.running = hash_count(h, "running");
            w.claimed = hash_count(h, "claimed");
            w.reclaimed = hash_count(h, "reclaimed");
            w.failed = hash_count(h, "failed");
            w.completed = hash_count(h, "completed");
            w.lag_seconds = static_cast<double>(hash_count(h, "lag_ms")) / 1000.0;
            up[w.name] = w.alive;
            workers.push_back(std::move(w));
        }
        workers_ = std::move(workers);
        for (const auto& [key, worker] : running_on) {
            auto it = in_flight_.find(key);
            if (it == in_flight_.end()) continue;
            const bool worker_up = !worker.empty() && up.contains(worker) && up[worker];
            if (worker_up) {
                it->second.lost_since = {};
                continue;
            }
            // Any live worker answers it when it reclaims the entry; with none left, the front does.
            if (it->second.lost_since == std::chrono::steady_clock::time_point{}) it->second.lost_since = now;
            if (now - it->second.lost_since > settings_.visibility_timeout * 2) {
                // complete() deletes the job's record: a later reclaim finds it gone and drops the entry.
                complete(key, TurnOutcome::failure(errc::worker_lost,
                                                   "the worker " + worker +
                                                       " running it stopped; it is not run again "
                                                       "(it may have used tools)"));
            }
        }
    }
}

void RedisJobQueue::close_and_cancel_all(std::chrono::milliseconds grace) {
    closed_ = true;
    std::vector<std::shared_ptr<Job>> jobs;
    for (const auto& [key, remote] : in_flight_)
        jobs.push_back(remote.job);
    for (const auto& job : jobs)
        job->cancel(errc::shutting_down, grace);
    // The workers stop the runs and answer; should one not (Redis away), stop waiting after a while.
    auto alive = alive_;
    const auto wait = grace + settings_.visibility_timeout;
    asio::co_spawn(
        executor_,
        [this, alive, wait]() -> asio::awaitable<void> {
            co_await pause_for(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
            if (!*alive) co_return;
            std::vector<std::string> left;
            for (const auto& [key, remote] : in_flight_)
                left.push_back(key);
            for (const auto& key : left)
                complete(key, TurnOutcome::failure(errc::shutting_down,
                                                   "no worker confirmed that it stopped the run"));
        },
        asio::detached);
}

asio::awaitable<void> RedisJobQueue::wait_idle(std::chrono::steady_clock::time_point deadline) {
    while (!in_flight_.empty() && std::chrono::steady_clock::now() < deadline)
        co_await idle_.wait_until(deadline);
    stopping_loops_ = true;
}

QueueStats RedisJobQueue::stats() const {
    QueueStats s;
    for (const auto& [key, remote] : in_flight_)
        ++(remote.started ? s.running : s.pending);
    s.max_pending = settings_.max_pending;
    for (const auto& w : workers_)
        if (w.alive) s.max_concurrent += settings_.max_concurrent;
    s.broker = settings_.address.text();
    s.broker_depth = depth_;
    s.broker_up = broker_up_;
    s.workers = workers_;
    return s;
}

} // namespace ksid::daemon
