#pragma once
// What the facade's handlers share: the configuration, the TurnService, the metrics, the API keys.
#include "config/config.hpp"
#include "facade/metrics.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::json {
class object;
}

namespace ksid::daemon {
class TurnService;
class UsageGovernor;
class WarmPool;
struct UpstreamStats;
} // namespace ksid::daemon

namespace ksid::facade {

struct FacadeDeps {
    const config::Config& config;
    daemon::TurnService& turns;
    std::shared_ptr<spdlog::logger> log;
    const daemon::UpstreamStats* upstream = nullptr; // the API shim's counters, when it is the backend
    const daemon::WarmPool* pool = nullptr;          // the warm processes, when they are the backend
    daemon::UsageGovernor* usage = nullptr;          // tenants, limits, the ledger (none: the key list only)
    // The daemon's agents and bus for the dashboard: {"agents": [...], "bus": {...}}.
    std::function<boost::json::object()> daemon_state;
};

struct FacadeContext {
    FacadeDeps deps;
    std::vector<std::string> api_keys;
    Metrics metrics;
    std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
    std::function<std::size_t()> open_connections; // set by the server
    bool stopping = false;                         // the server stops: streams that never end (SSE) end

    const config::FacadeSettings& settings() const { return deps.config.facade; }
    // /v1/models "created": the Unix time ksid started.
    long long created_at() const;
};

} // namespace ksid::facade
