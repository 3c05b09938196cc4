#pragma once
// The JobQueue of a front daemon when queue.broker names a Redis server: jobs go to Redis streams (one per
// priority, one per worker for the sessions it holds), worker daemons (daemon/redis/redis_worker) run them,
// and their typed events come back in a stream per job, read here with blocking reads. To the TurnService
// and the transports a job looks exactly like a local one.
#include "daemon/redis/broker_keys.hpp"
#include "daemon/redis/redis_connection.hpp"
#include "daemon/turns/job_queue.hpp"

#include <map>

namespace ksid::daemon {

struct BrokerSettings {
    protocol::RedisAddress address;
    std::string prefix = "ksid";
    std::chrono::milliseconds visibility_timeout{30'000};
    std::size_t max_pending = 64; // jobs waiting in Redis, all fronts together
    std::size_t max_deliveries = 3;
    std::size_t max_concurrent = 4; // a worker's runs at once
};

class RedisJobQueue final : public JobQueue {
public:
    RedisJobQueue(asio::any_io_executor executor, BrokerSettings settings,
                  std::shared_ptr<spdlog::logger> log);
    ~RedisJobQueue() override;

    // Starts reading events and watching the broker (the first connection is made then, not required).
    void start();
    result<std::shared_ptr<Job>> submit(TurnRequest request, TurnEventSink events) override;
    void close_and_cancel_all(std::chrono::milliseconds grace) override;
    asio::awaitable<void> wait_idle(std::chrono::steady_clock::time_point deadline) override;
    QueueStats stats() const override;
    void set_max_pending(std::size_t max_pending) { settings_.max_pending = max_pending; }

private:
    struct Remote {
        std::shared_ptr<Job> job;
        std::string last_event = "0"; // the events stream is read from here
        bool started = false;
        std::optional<std::string> replayed_session;
        std::chrono::steady_clock::time_point lost_since{}; // its worker looked gone since (0: it did not)
    };

    asio::awaitable<void> enqueue(std::shared_ptr<Job> job, std::string key);
    asio::awaitable<void> read_events();
    asio::awaitable<void> watch();
    void handle_event(const std::string& key, Remote& remote, std::string_view text);
    void complete(const std::string& key, TurnOutcome outcome);
    void fail_before_queued(Job& job, errc e, std::string detail);
    void request_cancel(const std::string& key, errc reason);
    std::string unreachable_text() const;

    asio::any_io_executor executor_;
    BrokerSettings settings_;
    BrokerKeys keys_;
    std::shared_ptr<spdlog::logger> log_;
    RedisConnection commands_;
    RedisConnection events_;                  // blocking XREADs only
    std::string front_;                       // this front's name in job ids and its wake stream
    std::map<std::string, Remote> in_flight_; // by broker job id (front + "-" + process id)
    bool closed_ = false;
    AsyncSignal idle_;
    AsyncSignal stop_;
    bool stopping_loops_ = false;
    // What the watch loop last saw, for /metrics.
    std::size_t depth_ = 0;
    bool broker_up_ = true;
    std::chrono::steady_clock::time_point down_since_{};
    std::vector<WorkerStats> workers_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace ksid::daemon
