#pragma once
// The facade's Prometheus metrics (GET /metrics): HTTP requests by route and status and their latency,
// rendered with the TurnService's counters (turns by how they ended, queue wait, tokens, cost) and the
// API shim's. Plain counters on the event loop thread.
#include "daemon/backends/upstream/upstream_stats.hpp"
#include "daemon/backends/warm/warm_pool.hpp"
#include "daemon/services/turn_stats.hpp"
#include "daemon/turns/job_queue.hpp"

#include <array>
#include <map>
#include <string>
#include <string_view>

namespace ksid::facade {

class Metrics {
public:
    void request(std::string_view route, int status, double seconds);
    // turns: the TurnService's counters; upstream: the API shim's, when it is the backend.
    std::string render(const daemon::QueueStats& queue, const daemon::TurnStats& turns,
                       std::size_t open_connections, const daemon::UpstreamStats* upstream = nullptr,
                       const daemon::WarmPool* pool = nullptr) const;

private:
    std::map<std::pair<std::string, int>, unsigned long long> requests_;
    std::map<std::string, daemon::Histogram> latency_;
};

} // namespace ksid::facade
