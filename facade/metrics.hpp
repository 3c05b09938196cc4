#pragma once
// The facade's Prometheus metrics (GET /metrics): requests by route and status, latency and queue-wait
// histograms, runs by how they ended, tokens and cost. Plain counters on the event loop thread.
#include "daemon/upstream/upstream_stats.hpp"

#include <array>
#include <map>
#include <string>
#include <string_view>

namespace ksid::facade {

class Histogram {
public:
    static constexpr std::array<double, 12> bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1,    2.5,   10,   60,  300};
    void observe(double seconds);
    void render(std::string& out, std::string_view name, std::string_view labels) const;

private:
    std::array<unsigned long long, bounds.size()> counts_{};
    unsigned long long total_ = 0;
    double sum_ = 0;
};

struct QueueGauge {
    std::size_t running = 0, pending = 0, max_concurrent = 0, max_pending = 0;
};

class Metrics {
public:
    void request(std::string_view route, int status, double seconds);
    void queue_wait(double seconds) { queue_wait_.observe(seconds); }
    void run_ended(std::string_view cause) { ++runs_[std::string(cause)]; }
    void tokens(long long prompt, long long completion, double cost_usd);
    // upstream: the API shim's counters, when it is the backend.
    std::string render(const QueueGauge& queue, std::size_t open_connections,
                       const daemon::UpstreamStats* upstream = nullptr) const;

private:
    std::map<std::pair<std::string, int>, unsigned long long> requests_;
    std::map<std::string, Histogram> latency_;
    Histogram queue_wait_;
    std::map<std::string, unsigned long long> runs_;
    long long prompt_tokens_ = 0, completion_tokens_ = 0;
    double cost_usd_ = 0;
};

} // namespace ksid::facade
