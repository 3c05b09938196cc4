#pragma once
// A worker daemon's side of the Redis broker (`ksid --worker`): claims jobs with the consumer group, best
// priority first and only with a free slot; runs them on its own backend (cold claude, warm pool or
// upstream); sends their typed events back to the job's stream and answers + acks each in one step. Every
// visibility_timeout/3 it refreshes what it holds, takes back jobs other workers claimed and stopped
// refreshing (run again when they never started, answered errc::worker_lost when they had), adopts the
// session jobs of workers that are gone, and publishes its counters. Shutdown hands back what it claimed
// and did not start.
#include "daemon/redis/redis_job_queue.hpp"
#include "daemon/turns/turn_backend.hpp"

#include <deque>
#include <map>

namespace ksid::daemon {

class RedisWorker {
public:
    RedisWorker(asio::any_io_executor executor, BrokerSettings settings, std::string name,
                TurnBackend& backend, std::shared_ptr<spdlog::logger> log);
    ~RedisWorker();

    void start();
    // Stops claiming, hands back the claimed jobs it did not start, stops the running ones within `grace`
    // (they are answered errc::shutting_down) and leaves the broker by `deadline`.
    asio::awaitable<void> shutdown(std::chrono::milliseconds grace,
                                   std::chrono::steady_clock::time_point deadline);
    const std::string& name() const { return name_; }

private:
    struct Entry {
        std::string stream; // where it is queued
        std::string id;     // its stream entry id
        std::string job;    // the broker job id
        std::vector<std::string> fields;
        std::string request;
        std::int64_t submitted_ms = 0;
        bool reclaimed = false;   // taken back from a worker that stopped refreshing it
        std::string adopted_from; // a gone worker's session stream it came from ("" : none)
    };
    struct Run {
        explicit Run(asio::any_io_executor ex) : flushed(ex) {}
        Entry entry;
        std::shared_ptr<CancellationToken> token = std::make_shared<CancellationToken>();
        std::vector<RedisCommand> outbox; // events not yet sent, in order
        bool flushing = false;
        AsyncSignal flushed;
        std::optional<std::string> replayed_session;
    };

    asio::awaitable<void> claim_loop();
    asio::awaitable<void> housekeeping_loop();
    asio::awaitable<void> cancel_loop();
    asio::awaitable<void> take(Entry entry);
    asio::awaitable<void> run(std::shared_ptr<Run> run, TurnRequest request);
    asio::awaitable<void> flush(std::shared_ptr<Run> run);
    asio::awaitable<bool> answer(const Entry& entry, const TurnOutcome& outcome);
    asio::awaitable<void> ack(const Entry& entry);
    asio::awaitable<void> release(const Entry& entry);
    asio::awaitable<void> housekeeping();
    asio::awaitable<void> adopt_gone_workers();
    void queue_event(Run& run, const boost::json::object& event);
    std::vector<std::string> claim_streams() const;
    std::vector<Entry> entries_of(const RespValue& reply) const; // an XREADGROUP reply's entries
    std::vector<Entry> autoclaimed(const std::string& stream, const RespValue& reply) const;

    asio::any_io_executor executor_;
    BrokerSettings settings_;
    BrokerKeys keys_;
    std::string name_;
    TurnBackend& backend_;
    std::shared_ptr<spdlog::logger> log_;
    RedisConnection commands_;
    RedisConnection blocking_;                            // blocking XREADGROUP only
    std::deque<Entry> held_;                              // claimed, waiting for a slot
    std::map<std::string, std::shared_ptr<Run>> running_; // by broker job id
    bool stopping_ = false;
    bool claiming_ = true; // the claim loop runs
    AsyncSignal slot_;
    AsyncSignal idle_;
    std::uint64_t claimed_ = 0, reclaimed_ = 0, failed_ = 0, completed_ = 0;
    std::int64_t lag_ms_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace ksid::daemon
