#include "daemon/redis/redis_worker.hpp"

#include "daemon/turns/turn_wire.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

using namespace std::chrono_literals;

constexpr std::string_view events_ttl = "3600";

// One entry ([id, [field, value, ...]]) of a stream reply.
std::optional<std::pair<std::string, std::vector<std::string>>> stream_entry(const RespValue& e) {
    if (!e.is_array() || e.elements.size() != 2 || !e.elements[1].is_array()) return std::nullopt;
    std::vector<std::string> fields;
    for (const auto& f : e.elements[1].elements)
        fields.push_back(f.text);
    return std::pair{e.elements[0].text, std::move(fields)};
}

} // namespace

RedisWorker::RedisWorker(asio::any_io_executor executor, BrokerSettings settings, std::string name,
                         TurnBackend& backend, std::shared_ptr<spdlog::logger> log)
    : executor_(executor), settings_(std::move(settings)), keys_{settings_.prefix}, name_(std::move(name)),
      backend_(backend), log_(std::move(log)), commands_(executor, settings_.address, "worker", log_),
      blocking_(executor, settings_.address, "claims", log_), slot_(executor), idle_(executor) {}

RedisWorker::~RedisWorker() {
    *alive_ = false;
}

void RedisWorker::start() {
    asio::co_spawn(executor_, housekeeping_loop(), asio::detached);
    asio::co_spawn(executor_, claim_loop(), asio::detached);
    asio::co_spawn(executor_, cancel_loop(), asio::detached);
}

std::vector<std::string> RedisWorker::claim_streams() const {
    std::vector<std::string> streams{keys_.worker_stream(name_)}; // its sessions' turns first
    for (int p = 0; p < broker_priorities; ++p)
        streams.push_back(keys_.priority_stream(p));
    return streams;
}

std::vector<RedisWorker::Entry> RedisWorker::autoclaimed(const std::string& stream,
                                                         const RespValue& reply) const {
    // XAUTOCLAIM's shape: [cursor, [[id, fields], ...], deleted ids]; its entries as XREADGROUP gives them.
    if (!reply.is_array() || reply.elements.size() < 2) return {};
    RespValue name;
    name.type = RespValue::Type::string;
    name.text = stream;
    RespValue one;
    one.type = RespValue::Type::array;
    one.elements = {std::move(name), reply.elements[1]};
    RespValue as_read;
    as_read.type = RespValue::Type::array;
    as_read.elements.push_back(std::move(one));
    return entries_of(as_read);
}

std::vector<RedisWorker::Entry> RedisWorker::entries_of(const RespValue& reply) const {
    // XREADGROUP's shape: [[stream, [[id, fields], ...]], ...]
    std::vector<Entry> out;
    if (!reply.is_array()) return out;
    for (const auto& stream : reply.elements) {
        if (!stream.is_array() || stream.elements.size() != 2) continue;
        for (const auto& e : stream.elements[1].elements) {
            auto parsed = stream_entry(e);
            if (!parsed) continue;
            Entry entry;
            entry.stream = stream.elements[0].text;
            entry.id = parsed->first;
            entry.fields = std::move(parsed->second);
            out.push_back(std::move(entry));
        }
    }
    for (auto& entry : out)
        for (std::size_t i = 0; i + 1 < entry.fields.size(); i += 2) {
            const auto& k = entry.fields[i];
            const auto& v = entry.fields[i + 1];
            if (k == "job")
                entry.job = v;
            else if (k == "request")
                entry.request = v;
            else if (k == "submitted")
                std::from_chars(v.data(), v.data() + v.size(), entry.submitted_ms);
        }
    return out;
}

asio::awaitable<void> RedisWorker::claim_loop() {
    auto alive = alive_;
    const auto streams = claim_streams();
    struct Done { // shutdown waits for the loop, so that a claim in flight is handed back too
        RedisWorker* w;
        std::shared_ptr<bool> alive;
        ~Done() {
            if (!*alive) return;
            w->claiming_ = false;
            w->idle_.notify();
        }
    } done{this, alive};
    while (*alive && !stopping_) {
        if (running_.size() >= settings_.max_concurrent) {
            co_await slot_.wait();
            continue;
        }
        if (!held_.empty()) {
            auto entry = std::move(held_.front());
            held_.pop_front();
            co_await take(std::move(entry));
            continue;
        }
        // The first waiting job in priority order, atomically; when there is none, block until one comes.
        RedisCommand claim{"EVAL", claim_script, std::to_string(streams.size())};
        claim.insert(claim.end(), streams.begin(), streams.end());
        claim.push_back(broker_group);
        claim.push_back(name_);
        auto reply = co_await commands_.command(std::move(claim));
        if (!*alive || stopping_) {
            if (*alive && reply)
                for (auto& e : entries_of(*reply))
                    held_.push_back(std::move(e)); // handed back by shutdown
            co_return;
        }
        if (!reply || reply->is_error()) {
            if (reply) log_->warn("Redis refused the claim: {}", reply->text);
            co_await pause_for(500ms);
            continue;
        }
        auto claimed = entries_of(*reply);
        if (!claimed.empty()) {
            for (auto& e : claimed)
                held_.push_back(std::move(e));
            continue;
        }
        RedisCommand wait{"XREADGROUP", "GROUP", broker_group, name_,    "COUNT",
                          "1",          "BLOCK", "1000",       "STREAMS"};
        wait.insert(wait.end(), streams.begin(), streams.end());
        for (std::size_t i = 0; i < streams.size(); ++i)
            wait.push_back(">");
        auto woken = co_await blocking_.command(std::move(wait), 5s);
        if (!*alive) co_return;
        if (!woken) {
            co_await pause_for(500ms);
            continue;
        }
        if (woken->is_error()) { // NOGROUP: the claim script creates the groups
            co_await pause_for(100ms);
            continue;
        }
        for (auto& e : entries_of(*woken))
            held_.push_back(std::move(e));
    }
}

asio::awaitable<void> RedisWorker::ack(const Entry& entry) {
    std::vector<RedisCommand> commands{{"XACK", entry.stream, broker_group, entry.id},
                                       {"XDEL", entry.stream, entry.id}};
    (void)co_await commands_.pipeline(std::move(commands));
}

asio::awaitable<bool> RedisWorker::answer(const Entry& entry, const TurnOutcome& outcome) {
    auto alive = alive_;
    const std::string text = json::serialize(turn_outcome_to_json(outcome));
    // The answer must not be lost to a short Redis outage: retry while the job is still ours.
    const auto give_up = std::chrono::steady_clock::now() + 2 * settings_.visibility_timeout;
    for (;;) {
        RedisCommand finish{
            "EVAL", finish_script, "3",      keys_.job_events(entry.job), keys_.job(entry.job), entry.stream,
            text,   broker_group,  entry.id, std::string(events_ttl)};
        auto r = co_await commands_.command(std::move(finish));
        if (!*alive) co_return false;
        if (r && !r->is_error()) co_return true;
        if (r) {
            log_->error("Job {}: Redis refused its answer: {}", entry.job, r->text);
            co_return false;
        }
        if (std::chrono::steady_clock::now() > give_up) {
            log_->error("Job {}: its answer could not be delivered: {}", entry.job, commands_.last_error());
            co_return false;
        }
        co_await pause_for(500ms);
    }
}

asio::awaitable<void> RedisWorker::release(const Entry& entry) {
    RedisCommand command{"EVAL",       release_script, "2", entry.stream, keys_.job(entry.job),
                         broker_group, entry.id};
    command.insert(command.end(), entry.fields.begin(), entry.fields.end());
    auto r = co_await commands_.command(std::move(command));
    if (r && !r->is_error())
        log_->info("Job {} handed back to the queue (this worker is stopping)", entry.job);
    else
        log_->warn("Job {} could not be handed back; another worker takes it after the visibility timeout",
                   entry.job);
}

asio::awaitable<void> RedisWorker::take(Entry entry) {
    auto alive = alive_;
    if (stopping_) {
        co_await release(entry);
        co_return;
    }
    if (entry.job.empty()) { // deleted from the stream meanwhile
        co_await ack(entry);
        co_return;
    }
    RedisCommand record{"EVAL", record_claim_script, "2", keys_.job(entry.job), keys_.job_cancel(entry.job),
                        name_};
    auto r = co_await commands_.command(std::move(record));
    if (!*alive) co_return;
    if (!r || !r->is_array() || r->elements.size() != 4) {
        // It stays claimed by this worker in Redis: taken back after the visibility timeout.
        log_->warn("Job {}: cannot record its claim ({}); left for the visibility timeout", entry.job,
                   r ? protocol::resp_summary(*r) : commands_.last_error());
        co_return;
    }
    const std::string state = r->elements[0].text;
    const auto deliveries = r->elements[1].as_integer().value_or(1);
    const std::string cancel = r->elements[2].text;
    const std::string before = r->elements[3].text;
    ++claimed_;
    if (entry.reclaimed) ++reclaimed_;
    if (entry.submitted_ms > 0)
        lag_ms_ = std::max<std::int64_t>(protocol::unix_ms_now() - entry.submitted_ms, 0);
    if (state == "gone" || state == "done") {
        co_await ack(entry);
        co_return;
    }
    if (!cancel.empty()) {
        int reason = static_cast<int>(errc::cancelled);
        std::from_chars(cancel.data(), cancel.data() + cancel.size(), reason);
        { // built before the co_await (GCC 12)
            const TurnOutcome failed_outcome =
                TurnOutcome::failure(static_cast<errc>(reason), "cancelled before it started");
            auto answering = answer(entry, failed_outcome);
            (void)co_await std::move(answering);
        }
        co_return;
    }
    if (state == "running") {
        // It had started on a worker that stopped: it may have used tools, so it is not run again.
        ++failed_;
        log_->warn("Job {}: its worker {} stopped while running it; answering it with an error", entry.job,
                   before);
        { // built before the co_await (GCC 12)
            const TurnOutcome failed_outcome = TurnOutcome::failure(
                errc::worker_lost, "the worker " + (before.empty() ? std::string("?") : before) +
                                       " running it stopped; it is not run again (it may "
                                       "have used tools)");
            auto answering = answer(entry, failed_outcome);
            (void)co_await std::move(answering);
        }
        co_return;
    }
    auto parsed = protocol::parse_json_text(entry.request, 64);
    auto request = parsed ? turn_request_from_json(*parsed) : result<TurnRequest>(errc::internal);
    const bool too_often = deliveries > static_cast<long long>(settings_.max_deliveries);
    if (!request || too_often) {
        ++failed_;
        const std::string why = too_often
                                    ? "delivered " + std::to_string(deliveries) +
                                          " times without finishing: its workers stopped before running it "
                                          "(queue.max_deliveries)"
                                    : "its request could not be read";
        log_->error("Job {}: {}; moved to {}", entry.job, why, keys_.dead());
        RedisCommand dead{"XADD",    keys_.dead(), "MAXLEN",     "~",      "10000", "*",       "job",
                          entry.job, "stream",     entry.stream, "reason", why,     "request", entry.request};
        (void)co_await commands_.command(std::move(dead));
        if (!*alive) co_return;
        { // built before the co_await (GCC 12)
            const TurnOutcome failed_outcome = TurnOutcome::failure(
                too_often ? errc::worker_lost : errc::internal,
                "the job was " + why + "; it is in the dead-letter stream " + keys_.dead());
            auto answering = answer(entry, failed_outcome);
            (void)co_await std::move(answering);
        }
        co_return;
    }
    auto job = std::make_shared<Run>(executor_);
    if (!entry.adopted_from.empty() && request->resume_session) {
        // A session job of a worker that is gone: its session cannot be resumed here.
        if (request->replay_prompt.empty() && request->replay_images.empty()) {
            { // built before the co_await (GCC 12)
                const TurnOutcome failed_outcome = TurnOutcome::failure(
                    errc::session_unavailable,
                    "session " + *request->resume_session + " lives on worker " + entry.adopted_from +
                        ", which is gone: Claude Code keeps a session's transcript on the "
                        "machine that ran it");
                auto answering = answer(entry, failed_outcome);
                (void)co_await std::move(answering);
            }
            co_return;
        }
        job->replayed_session = request->resume_session;
        request->prompt = std::move(request->replay_prompt);
        request->images = std::move(request->replay_images);
        request->resume_session.reset();
    }
    job->entry = std::move(entry);
    running_.emplace(job->entry.job, job);
    asio::co_spawn(executor_, run(job, std::move(*request)), asio::detached);
}

void RedisWorker::queue_event(Run& run, const json::object& event) {
    run.outbox.push_back({"XADD", keys_.job_events(run.entry.job), "MAXLEN", "~", "100000", "*", "event",
                          json::serialize(event)});
    if (!run.flushing) {
        run.flushing = true;
        auto self = running_.find(run.entry.job);
        if (self != running_.end()) asio::co_spawn(executor_, flush(self->second), asio::detached);
    }
}

asio::awaitable<void> RedisWorker::flush(std::shared_ptr<Run> run) {
    auto alive = alive_;
    while (*alive && !run->outbox.empty()) {
        auto batch = std::move(run->outbox);
        run->outbox.clear();
        auto r = co_await commands_.pipeline(std::move(batch));
        if (!*alive) co_return;
        if (!r) log_->warn("Job {}: events lost to a broker outage", run->entry.job);
    }
    run->flushing = false;
    run->flushed.notify();
}

asio::awaitable<void> RedisWorker::run(std::shared_ptr<Run> job, TurnRequest request) {
    auto alive = alive_;
    const Entry& entry = job->entry;
    // Marked running before anything runs: from here on a lost worker means an error, never a second run.
    std::vector<RedisCommand> start{{"HSET", keys_.job(entry.job), "state", "running", "worker", name_},
                                    {"XADD", keys_.job_events(entry.job), "*", "event",
                                     json::serialize(json::object{{"type", "running"}, {"worker", name_}})},
                                    {"EXPIRE", keys_.job_events(entry.job), std::string(events_ttl)}};
    auto started = co_await commands_.pipeline(std::move(start));
    if (!*alive) co_return;
    if (!started) {
        log_->warn("Job {}: cannot mark it running ({}); left for the visibility timeout", entry.job,
                   commands_.last_error());
        running_.erase(entry.job);
        slot_.notify();
        co_return;
    }
    log_->info("Job {} running ({}, from {})", entry.job, request.origin, entry.stream);
    auto session_key = [this](const std::string& session) {
        return RedisCommand{"SET", keys_.session(session), name_, "EX", "2592000"};
    };
    std::weak_ptr<Run> weak = job;
    TurnEventSink sink = [this, weak, session_key](const TurnEvent& event) {
        auto run = weak.lock();
        if (!run) return;
        if (const auto* s = std::get_if<TurnStarted>(&event); s && s->session_id)
            run->outbox.push_back(session_key(*s->session_id));
        queue_event(*run, turn_event_to_json(event));
    };
    TurnOutcome outcome;
    try { // an exception never crosses the job boundary
        auto running = backend_.run(request, sink, job->token);
        outcome = co_await std::move(running);
    } catch (const std::exception& e) {
        log_->error("Job {} failed inside ksid: {}", entry.job, e.what());
        outcome = TurnOutcome::failure(errc::internal, e.what());
    }
    if (!*alive) co_return;
    if (outcome.answer && outcome.answer->session_id)
        job->outbox.push_back(session_key(*outcome.answer->session_id));
    if (job->replayed_session) outcome.replayed_session = job->replayed_session;
    while (job->flushing || !job->outbox.empty()) {
        if (!job->flushing) {
            job->flushing = true;
            asio::co_spawn(executor_, flush(job), asio::detached);
        }
        co_await job->flushed.wait();
        if (!*alive) co_return;
    }
    auto answering = answer(entry, outcome);
    const bool answered = co_await std::move(answering);
    if (!*alive) co_return;
    if (answered && outcome.ok())
        ++completed_;
    else
        ++failed_;
    running_.erase(entry.job);
    slot_.notify();
    if (running_.empty()) idle_.notify();
}

asio::awaitable<void> RedisWorker::cancel_loop() {
    auto alive = alive_;
    while (*alive) {
        co_await pause_for(200ms);
        if (!*alive || running_.empty()) continue;
        RedisCommand get{"MGET"};
        std::vector<std::string> jobs;
        for (const auto& [job, run] : running_) {
            get.push_back(keys_.job_cancel(job));
            jobs.push_back(job);
        }
        auto r = co_await commands_.command(std::move(get));
        if (!*alive) co_return;
        if (!r || !r->is_array()) continue;
        for (std::size_t i = 0; i < jobs.size() && i < r->elements.size(); ++i) {
            if (!r->elements[i].is_string()) continue;
            auto it = running_.find(jobs[i]);
            if (it == running_.end() || it->second->token->cancelled()) continue;
            int reason = static_cast<int>(errc::cancelled);
            const auto& text = r->elements[i].text;
            std::from_chars(text.data(), text.data() + text.size(), reason);
            log_->info("Job {}: stopped ({})", jobs[i], make_error_code(static_cast<errc>(reason)).message());
            it->second->token->cancel(static_cast<errc>(reason));
        }
    }
}

asio::awaitable<void> RedisWorker::housekeeping_loop() {
    auto alive = alive_;
    const auto every = std::max<std::chrono::milliseconds>(settings_.visibility_timeout / 3, 200ms);
    while (*alive && !stopping_) {
        co_await housekeeping();
        if (!*alive || stopping_) co_return;
        co_await pause_for(every);
    }
}

asio::awaitable<void> RedisWorker::housekeeping() {
    auto alive = alive_;
    const auto visibility = std::to_string(settings_.visibility_timeout.count());
    // Alive, counters, and the idle time of what it holds reset (so that nobody takes it back).
    std::vector<RedisCommand> commands{
        {"SET", keys_.worker_alive(name_), "1", "PX", visibility},
        {"SADD", keys_.workers(), name_},
        {"HSET", keys_.worker_stats(name_), "running", std::to_string(running_.size()), "claimed",
         std::to_string(claimed_), "reclaimed", std::to_string(reclaimed_), "failed", std::to_string(failed_),
         "completed", std::to_string(completed_), "lag_ms", std::to_string(lag_ms_), "held",
         std::to_string(held_.size())}};
    std::map<std::string, std::vector<std::string>> held_ids;
    for (const auto& [job, run] : running_)
        held_ids[run->entry.stream].push_back(run->entry.id);
    for (const auto& e : held_)
        held_ids[e.stream].push_back(e.id);
    for (const auto& [stream, ids] : held_ids) {
        RedisCommand refresh{"XCLAIM", stream, broker_group, name_, "0"};
        refresh.insert(refresh.end(), ids.begin(), ids.end());
        refresh.push_back("JUSTID");
        commands.push_back(std::move(refresh));
    }
    // Jobs other workers claimed and stopped refreshing.
    const auto streams = claim_streams();
    for (const auto& stream : streams)
        commands.push_back({"XAUTOCLAIM", stream, broker_group, name_, visibility, "0-0", "COUNT", "16"});
    const std::size_t first_autoclaim = commands.size() - streams.size();
    auto r = co_await commands_.pipeline(std::move(commands));
    if (!*alive || !r) co_return;
    for (std::size_t i = 0; i < streams.size(); ++i) {
        const auto& reply = (*r)[first_autoclaim + i];
        for (auto& e : autoclaimed(streams[i], reply)) {
            e.reclaimed = true;
            log_->warn("Job {}: taken back from a worker that stopped refreshing it", e.job);
            held_.push_back(std::move(e));
        }
    }
    if (!held_.empty()) slot_.notify();
    co_await adopt_gone_workers();
}

asio::awaitable<void> RedisWorker::adopt_gone_workers() {
    auto alive = alive_;
    RedisCommand members{"SMEMBERS", keys_.workers()};
    auto names = co_await commands_.command(std::move(members));
    if (!*alive || !names || !names->is_array()) co_return;
    std::vector<std::string> others;
    std::vector<RedisCommand> exists;
    for (const auto& n : names->elements)
        if (n.text != name_) {
            others.push_back(n.text);
            exists.push_back({"EXISTS", keys_.worker_alive(n.text)});
        }
    if (others.empty()) co_return;
    auto up = co_await commands_.pipeline(std::move(exists));
    if (!*alive || !up) co_return;
    for (std::size_t i = 0; i < others.size(); ++i) {
        if ((*up)[i].as_integer().value_or(1) != 0) continue;
        const std::string& gone = others[i];
        const std::string stream = keys_.worker_stream(gone);
        // Its session jobs: those it had claimed, and those nobody read yet.
        std::vector<RedisCommand> take{
            {"XGROUP", "CREATE", stream, broker_group, "0", "MKSTREAM"},
            {"XAUTOCLAIM", stream, broker_group, name_, "0", "0-0", "COUNT", "64"},
            {"XREADGROUP", "GROUP", broker_group, name_, "COUNT", "64", "STREAMS", stream, ">"},
            {"XLEN", stream}};
        auto r = co_await commands_.pipeline(std::move(take));
        if (!*alive || !r) co_return;
        std::vector<Entry> adopted;
        for (auto& e : autoclaimed(stream, (*r)[1]))
            adopted.push_back(std::move(e));
        for (auto& e : entries_of((*r)[2]))
            adopted.push_back(std::move(e));
        for (auto& e : adopted) {
            e.adopted_from = gone;
            e.reclaimed = true;
            held_.push_back(std::move(e));
        }
        if (!adopted.empty()) {
            log_->warn("Worker {} is gone: taking over {} job(s) queued for its sessions", gone,
                       adopted.size());
            slot_.notify();
        } else if ((*r)[3].as_integer().value_or(1) == 0) {
            log_->info("Worker {} is gone: removed from {}", gone, keys_.workers());
            std::vector<RedisCommand> forget{{"SREM", keys_.workers(), gone},
                                             {"DEL", stream, keys_.worker_stats(gone)}};
            (void)co_await commands_.pipeline(std::move(forget));
            if (!*alive) co_return;
        }
    }
}

asio::awaitable<void> RedisWorker::shutdown(std::chrono::milliseconds grace,
                                            std::chrono::steady_clock::time_point deadline) {
    auto alive = alive_;
    stopping_ = true;
    slot_.notify();
    while (!held_.empty()) {
        auto entry = std::move(held_.front());
        held_.pop_front();
        co_await release(entry);
        if (!*alive) co_return;
    }
    for (const auto& [job, run] : running_)
        run->token->cancel(errc::shutting_down, grace);
    while ((!running_.empty() || claiming_) && std::chrono::steady_clock::now() < deadline)
        co_await idle_.wait_until(deadline);
    // A claim that was in flight when shutdown began is handed back too.
    while (!held_.empty()) {
        auto entry = std::move(held_.front());
        held_.pop_front();
        co_await release(entry);
        if (!*alive) co_return;
    }
    std::vector<RedisCommand> leave{{"DEL", keys_.worker_alive(name_)},
                                    {"HSET", keys_.worker_stats(name_), "running", "0", "held", "0"}};
    (void)co_await commands_.pipeline(std::move(leave));
}

} // namespace ksid::daemon
