#include "daemon/backends/warm/warm_pool.hpp"

#include "daemon/core/lifecycle.hpp"
#include "daemon/process/persistent_child.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>

namespace ksid::daemon {

using Clock = std::chrono::steady_clock;

namespace {

WarmKey key_of(const TurnRequest& r) {
    return WarmKey{r.model, r.enable_tools, !r.enable_tools && r.no_tools, r.append_system_prompt,
                   r.client_tools ? r.client_tools_key : std::string(), r.client_tools, r.json_schema};
}

bool is_spare(const WarmProcess& p) { return p.reusable() && p.turns() == 0 && !p.session(); }

} // namespace

// Turns of one session wait here for their turn, first come first served.
struct WarmPool::SessionQueue {
    explicit SessionQueue(asio::any_io_executor ex) : next(ex) {}
    std::uint64_t issued = 0, serving = 0;
    std::set<std::uint64_t> abandoned; // tickets whose turn was cancelled while it waited
    AsyncSignal next;

    void done(std::uint64_t ticket) {
        if (serving != ticket) {
            abandoned.insert(ticket);
            return;
        }
        ++serving;
        while (abandoned.erase(serving)) ++serving;
        next.notify();
    }
};

WarmPool::WarmPool(asio::any_io_executor executor, const config::Config& config, TurnBackend& cold,
                   std::shared_ptr<spdlog::logger> log)
    : executor_(executor), config_(config), cold_(cold), log_(std::move(log)), maintenance_(executor) {
    limits_.max_output_bytes = config.queue.max_output_bytes;
    limits_.output_idle_limit = config::to_ms(config.pool.output_idle_limit);
    limits_.interrupt_drain = config::to_ms(config.pool.interrupt_drain);
    limits_.kill_grace = std::min(config::to_ms(config.queue.kill_grace), std::chrono::milliseconds(3000));
}

void WarmPool::start(const WarmKey& prestart) {
    if (config_.pool.prestart && config_.pool.spares > 0) {
        note_key(prestart);
        replenish();
    }
    asio::co_spawn(executor_, maintain(), asio::detached);
}

void WarmPool::note_key(const WarmKey& key) {
    const auto now = Clock::now();
    for (auto& [k, used] : recent_keys_)
        if (k == key) {
            used = now;
            return;
        }
    recent_keys_.emplace_back(key, now);
}

std::shared_ptr<WarmProcess> WarmPool::take_spare(const WarmKey& key) {
    for (const auto& p : processes_)
        if (is_spare(*p) && p->key() == key) return p;
    return nullptr;
}

std::shared_ptr<WarmProcess> WarmPool::find_session(const std::string& session) {
    for (const auto& p : processes_)
        if (p->state() != WarmProcess::State::dead && p->session() == session) return p;
    return nullptr;
}

// Stops idle processes, least recently used first, until `extra` more fit under the count limit and the
// memory budget. False when they cannot (every process is busy).
bool WarmPool::make_room(std::size_t extra) {
    auto fits = [&] {
        const std::size_t per_process = processes_.empty() ? 0 : total_rss_bytes() / processes_.size();
        return processes_.size() + extra <= config_.pool.max_processes &&
               total_rss_bytes() + extra * per_process <= config_.pool.memory_budget;
    };
    while (!fits()) {
        std::shared_ptr<WarmProcess> victim;
        for (const auto& p : processes_) // a process awaiting tool results may go too: its turn is replayed
            if ((p->state() == WarmProcess::State::idle || p->state() == WarmProcess::State::awaiting) &&
                (!victim || p->last_used() < victim->last_used()))
                victim = p;
        if (!victim) return false;
        retire(victim, stats_.evictions, "evicted for room");
    }
    return true;
}

std::shared_ptr<WarmProcess> WarmPool::launch(const WarmKey& key, std::optional<std::string> resume) {
    int error = 0;
    auto p = WarmProcess::start(executor_, config_.daemon.claude_command, "", key, std::move(resume), error);
    if (!p) {
        log_->warn("Warm pool: cannot start {}: {}", config_.daemon.claude_command, std::strerror(error));
        return nullptr;
    }
    processes_.push_back(p);
    log_->debug("Warm pool: started pid {} for model {}{}", p->pid(), key.model,
                p->session() ? " resuming " + *p->session() : std::string());
    return p;
}

void WarmPool::retire(const std::shared_ptr<WarmProcess>& p, std::uint64_t& counter, const char* why) {
    ++counter;
    log_->debug("Warm pool: pid {} {} ({} turns)", p->pid(), why, p->turns());
    p->stop(limits_.kill_grace);
    std::erase(processes_, p);
}

// Keeps `pool.spares` idle pre-started processes for every key used within pool.idle_ttl, room permitting.
void WarmPool::replenish() {
    if (stopping_) return;
    const auto horizon = Clock::now() - config::to_ms(config_.pool.idle_ttl);
    std::erase_if(recent_keys_, [&](const auto& k) { return k.second < horizon; });
    for (const auto& [key, used] : recent_keys_) {
        std::size_t have = 0;
        for (const auto& p : processes_)
            if (is_spare(*p) && p->key() == key) ++have;
        for (; have < config_.pool.spares; ++have) {
            if (processes_.size() >= config_.pool.max_processes || total_rss_bytes() > config_.pool.memory_budget)
                return; // spares never evict anything
            if (!launch(key, std::nullopt)) return;
        }
    }
}

asio::awaitable<TurnOutcome> WarmPool::run(const TurnRequest& request, const TurnEventSink& events,
                                           std::shared_ptr<CancellationToken> cancel) {
    if (stopping_) co_return co_await cold_.run(request, events, cancel);
    const WarmKey key = key_of(request);
    note_key(key);

    // Turns of one session: one at a time, in arrival order.
    std::shared_ptr<SessionQueue> queue;
    std::uint64_t ticket = 0;
    if (request.resume_session) {
        auto& q = sessions_[*request.resume_session];
        if (!q) q = std::make_shared<SessionQueue>(executor_);
        queue = q;
        ticket = queue->issued++;
        const CancelHandlerScope on_cancel(*cancel, [queue] { queue->next.notify(); });
        while (queue->serving != ticket && !cancel->cancelled()) co_await queue->next.wait();
    }
    struct NextInLine { // lets the session's next turn go, however this one ends
        std::shared_ptr<SessionQueue> queue;
        std::uint64_t ticket;
        ~NextInLine() {
            if (queue) queue->done(ticket);
        }
    } next_in_line{queue, ticket};
    if (cancel->cancelled()) co_return TurnOutcome::failure(cancel->reason(), "cancelled before it started");

    // The client's tool results go to the process whose turn awaits them; with none (evicted, restarted,
    // past pool.tool_result_wait) the conversation is replayed below, in a process of its own.
    if (!request.tool_results.empty()) {
        if (auto awaiting = find_awaiting(request.tool_results)) {
            if (auto problem = awaiting->results_problem(request.tool_results))
                co_return TurnOutcome::failure(errc::tool_results_mismatch, *problem);
            ++stats_.hits;
            ++stats_.tool_rounds;
            TurnOutcome outcome = co_await awaiting->continue_turn(request, events, *cancel, limits_);
            settle(awaiting, outcome);
            co_return outcome;
        }
        ++stats_.tool_replays;
        log_->info("Warm pool: no process awaits tool results {}: the conversation is replayed",
                   request.tool_results.front().tool_use_id);
    }

    std::shared_ptr<WarmProcess> process;
    if (request.resume_session) {
        process = find_session(*request.resume_session);
        if (process && !(process->reusable() && process->key() == key)) {
            retire(process, stats_.recycles, "replaced: its state or key does not fit the turn");
            process.reset();
        }
    } else {
        process = take_spare(key);
    }
    if (process) {
        ++stats_.hits;
    } else {
        ++stats_.misses;
        if (make_room(1)) process = launch(key, request.resume_session);
        if (!process) {
            ++stats_.cold_overflow;
            if (request.client_tools) // a cold claude cannot serve them
                co_return TurnOutcome::failure(errc::queue_full, "no warm process is free for a client-tools turn");
            co_return co_await cold_.run(request, events, cancel);
        }
    }
    if (!request.resume_session) replenish(); // a replacement spare, started while this turn runs

    bool retry_cold = false;
    TurnOutcome outcome = co_await process->run_turn(request, events, *cancel, limits_, retry_cold);
    if (retry_cold) {
        ++stats_.cold_retries;
        log_->warn("Warm pool: pid {} failed before answering ({}); running the turn cold", process->pid(),
                   outcome.detail);
        retire(process, stats_.kills, "failed");
        if (request.client_tools) co_return outcome; // a cold claude cannot serve them
        co_return co_await cold_.run(request, events, cancel);
    }
    settle(process, outcome);
    co_return outcome;
}

// After a turn (or its round of tool calls): counts how it ended, drops a process that cannot serve again.
void WarmPool::settle(const std::shared_ptr<WarmProcess>& process, const TurnOutcome& outcome) {
    if (!outcome.ok() && outcome.started) ++(process->state() == WarmProcess::State::dead ? stats_.kills : stats_.interrupts);
    const bool awaiting = process->state() == WarmProcess::State::awaiting;
    if (process->state() == WarmProcess::State::dead || (!awaiting && !process->reusable())) {
        if (process->state() != WarmProcess::State::dead) process->stop(limits_.kill_grace);
        std::erase(processes_, process);
    }
    sweep();
}

// The client never sent the results: the pending calls fail inside the CLI (an error result each) and the turn
// runs to its end with nobody listening; the process then serves its session again (or is killed if the turn
// does not end within its limits).
void WarmPool::abandon_tool_calls(const std::shared_ptr<WarmProcess>& p) {
    ++stats_.tool_abandons;
    log_->info("Warm pool: pid {}: no tool results within pool.tool_result_wait; its calls fail", p->pid());
    TurnRequest request;
    std::ostringstream wait; // "600", "2.5"
    wait << config_.pool.tool_result_wait.count();
    for (const auto& call : p->awaited_calls())
        request.tool_results.push_back(
            {call.id, "The client did not return this tool's result within " + wait.str() + " s.", true, {}});
    request.time_limit = limits_.output_idle_limit;
    asio::co_spawn(
        executor_,
        [this, p, request = std::move(request)]() -> asio::awaitable<void> {
            CancellationToken cancel;
            const TurnEventSink nobody;
            TurnOutcome outcome = co_await p->continue_turn(request, nobody, cancel, limits_);
            if (!stopping_) settle(p, outcome);
        },
        asio::detached);
}

std::shared_ptr<WarmProcess> WarmPool::find_awaiting(const std::vector<protocol::ClientToolResult>& results) {
    for (const auto& p : processes_) {
        if (p->state() != WarmProcess::State::awaiting) continue;
        for (const auto& call : p->awaited_calls())
            for (const auto& r : results)
                if (r.tool_use_id == call.id) return p;
    }
    return nullptr;
}

// Stops what should not stay: dead processes, idle ones past their limits, and what does not fit.
void WarmPool::sweep() {
    std::erase_if(processes_, [](const auto& p) { return p->state() == WarmProcess::State::dead; });
    const auto now = Clock::now();
    for (const auto& p : std::vector(processes_)) {
        if (p->state() == WarmProcess::State::awaiting &&
            now - p->awaiting_since() >= config::to_ms(config_.pool.tool_result_wait))
            abandon_tool_calls(p);
        if (p->state() != WarmProcess::State::idle) continue;
        if (p->turns() >= config_.pool.max_turns || now - p->started_at() >= config::to_ms(config_.pool.max_age) ||
            p->rss_bytes() >= config_.pool.max_process_rss)
            retire(p, stats_.recycles, "recycled");
        else if (p->session() && now - p->last_used() >= config::to_ms(config_.pool.idle_ttl))
            retire(p, stats_.evictions, "idle past pool.idle_ttl");
    }
    (void)make_room(0);
    std::erase_if(sessions_, [](const auto& s) { return s.second->serving == s.second->issued && s.second.use_count() == 1; });
    replenish();
}

asio::awaitable<void> WarmPool::maintain() {
    while (!stopping_) {
        maintenance_.expires_after(std::chrono::seconds(2));
        auto [ec] = co_await maintenance_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (stopping_) break;
        const auto rss = resident_memory_by_group();
        for (const auto& p : processes_)
            if (auto it = rss.find(p->pid()); it != rss.end()) p->set_rss_bytes(it->second);
        sweep();
    }
}

std::size_t WarmPool::total_rss_bytes() const {
    std::size_t total = 0;
    for (const auto& p : processes_) total += p->rss_bytes();
    return total;
}

std::vector<WarmProcessInfo> WarmPool::processes() const {
    std::vector<WarmProcessInfo> out;
    for (const auto& p : processes_) {
        const char* state = p->state() == WarmProcess::State::busy       ? "busy"
                            : p->state() == WarmProcess::State::awaiting ? "awaiting_tool_results"
                            : is_spare(*p)                               ? "spare"
                                                                         : "idle";
        out.push_back({p->pid(), p->key().model, p->session(), state, p->rss_bytes(), p->turns()});
    }
    return out;
}

asio::awaitable<void> WarmPool::shutdown(std::chrono::milliseconds grace, Clock::time_point deadline) {
    stopping_ = true;
    maintenance_.cancel();
    auto all = std::move(processes_);
    processes_.clear();
    for (const auto& p : all) p->stop(grace);
    for (const auto& p : all) co_await p->wait_exit(deadline);
}

} // namespace ksid::daemon
