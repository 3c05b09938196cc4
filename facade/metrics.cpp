#include "facade/metrics.hpp"

#include <cstdio>

namespace ksid::facade {


void Metrics::request(std::string_view route, int status, double seconds) {
    ++requests_[{std::string(route), status}];
    latency_[std::string(route)].observe(seconds);
}

std::string Metrics::render(const daemon::QueueStats& q, const daemon::TurnStats& turns,
                            std::size_t open_connections, const daemon::UpstreamStats* upstream,
                            const daemon::WarmPool* pool) const {
    std::string out;
    out += "# HELP ksid_http_requests_total HTTP requests by route and status.\n# TYPE "
           "ksid_http_requests_total counter\n";
    for (const auto& [key, n] : requests_)
        out += "ksid_http_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) +
               "\"} " + std::to_string(n) + "\n";
    out += "# HELP ksid_http_request_duration_seconds Time from request to the end of the response.\n"
           "# TYPE ksid_http_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_)
        h.render(out, "ksid_http_request_duration_seconds", "route=\"" + route + "\"");
    out += "# HELP ksid_queue_wait_seconds Time a run waited for a slot.\n# TYPE ksid_queue_wait_seconds "
           "histogram\n";
    turns.queue_wait.render(out, "ksid_queue_wait_seconds", "");
    out += "# HELP ksid_jobs_running Runs in progress.\n# TYPE ksid_jobs_running gauge\nksid_jobs_running " +
           std::to_string(q.running) + "\n";
    out +=
        "# HELP ksid_jobs_queued Runs waiting for a slot.\n# TYPE ksid_jobs_queued gauge\nksid_jobs_queued " +
        std::to_string(q.pending) + "\n";
    if (!q.broker.empty()) { // the Redis broker's queue, and its workers as they report themselves there
        out += "# HELP ksid_broker_up Whether the queue's Redis broker answered the last check.\n"
               "# TYPE ksid_broker_up gauge\nksid_broker_up " +
               std::string(q.broker_up ? "1" : "0") + "\n";
        out += "# HELP ksid_broker_queue_depth Jobs waiting in the broker (every front's) for a worker.\n"
               "# TYPE ksid_broker_queue_depth gauge\nksid_broker_queue_depth " +
               std::to_string(q.broker_depth) + "\n";
        auto label = [](const std::string& name) {
            std::string v;
            for (char ch : name)
                if (ch != '"' && ch != '\\' && ch != '\n') v += ch;
            return "worker=\"" + v + "\"";
        };
        out += "# HELP ksid_worker_up Workers registered in the broker, 1 while they refresh their lease.\n"
               "# TYPE ksid_worker_up gauge\n";
        for (const auto& w : q.workers)
            out += "ksid_worker_up{" + label(w.name) + "} " + (w.alive ? "1" : "0") + "\n";
        out += "# HELP ksid_worker_running Runs in progress on each worker.\n# TYPE ksid_worker_running gauge\n";
        for (const auto& w : q.workers)
            out += "ksid_worker_running{" + label(w.name) + "} " + std::to_string(w.running) + "\n";
        out += "# HELP ksid_worker_jobs_total Jobs each worker claimed, took back from a stopped worker, "
               "completed or failed.\n# TYPE ksid_worker_jobs_total counter\n";
        for (const auto& w : q.workers)
            for (const auto& [event, n] : {std::pair{"claimed", w.claimed}, {"reclaimed", w.reclaimed},
                                            {"completed", w.completed}, {"failed", w.failed}})
                out += "ksid_worker_jobs_total{" + label(w.name) + ",event=\"" + event + "\"} " +
                       std::to_string(n) + "\n";
        out += "# HELP ksid_worker_lag_seconds The wait of the last job each worker claimed, from submission.\n"
               "# TYPE ksid_worker_lag_seconds gauge\n";
        for (const auto& w : q.workers)
            out += "ksid_worker_lag_seconds{" + label(w.name) + "} " + daemon::prometheus_number(w.lag_seconds) + "\n";
    }
    out += "# HELP ksid_http_connections Open HTTP connections.\n# TYPE ksid_http_connections "
           "gauge\nksid_http_connections " +
           std::to_string(open_connections) + "\n";
    out +=
        "# HELP ksid_runs_total Turns (socket and HTTP) by how they ended.\n# TYPE ksid_runs_total counter\n";
    for (const auto& [cause, n] : turns.ended)
        out += "ksid_runs_total{cause=\"" + cause + "\"} " + std::to_string(n) + "\n";
    out += "# HELP ksid_tokens_total Tokens reported by claude.\n# TYPE ksid_tokens_total counter\n";
    out += "ksid_tokens_total{kind=\"prompt\"} " + std::to_string(turns.prompt_tokens) + "\n";
    out += "ksid_tokens_total{kind=\"completion\"} " + std::to_string(turns.completion_tokens) + "\n";
    out += "# HELP ksid_cost_usd_total Cost reported by claude.\n# TYPE ksid_cost_usd_total "
           "counter\nksid_cost_usd_total " +
           daemon::prometheus_number(turns.cost_usd) + "\n";
    if (upstream) {
        auto counter = [&](const char* name, const char* help, std::uint64_t v) {
            out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
                   " " + std::to_string(v) + "\n";
        };
        counter("ksid_upstream_calls_total", "Turns sent to the API shim's upstream.", upstream->calls);
        counter("ksid_upstream_completed_total", "Upstream calls that returned a result.",
                upstream->completed);
        counter("ksid_upstream_retries_total", "Retries where the upstream provably did nothing.",
                upstream->retries);
        counter("ksid_upstream_fallbacks_total", "Turns run directly because the upstream was unreachable.",
                upstream->fallbacks);
        out += "# HELP ksid_upstream_failures_total Upstream calls that failed, by kind.\n"
               "# TYPE ksid_upstream_failures_total counter\n";
        for (const auto& [kind, n] : upstream->failures)
            out += "ksid_upstream_failures_total{kind=\"" + kind + "\"} " + std::to_string(n) + "\n";
    }
    if (pool) {
        std::map<std::string, std::size_t> by_state{{"busy", 0}, {"idle", 0}, {"spare", 0}, {"awaiting_tool_results", 0}};
        for (const auto& p : pool->processes()) ++by_state[p.state];
        out += "# HELP ksid_pool_processes Warm claude processes by state.\n# TYPE ksid_pool_processes gauge\n";
        for (const auto& [state, n] : by_state)
            out += "ksid_pool_processes{state=\"" + state + "\"} " + std::to_string(n) + "\n";
        out += "# HELP ksid_pool_resident_bytes Resident memory of the warm processes' groups.\n"
               "# TYPE ksid_pool_resident_bytes gauge\nksid_pool_resident_bytes " +
               std::to_string(pool->total_rss_bytes()) + "\n";
        const auto& s = pool->stats();
        out += "# HELP ksid_pool_events_total Warm pool events.\n# TYPE ksid_pool_events_total counter\n";
        for (const auto& [event, n] : {std::pair{"hit", s.hits}, {"miss", s.misses}, {"eviction", s.evictions},
                                        {"recycle", s.recycles}, {"interrupt", s.interrupts}, {"kill", s.kills},
                                        {"cold_retry", s.cold_retries}, {"cold_overflow", s.cold_overflow},
                                        {"tool_round", s.tool_rounds}, {"tool_replay", s.tool_replays},
                                        {"tool_abandon", s.tool_abandons}})
            out += "ksid_pool_events_total{event=\"" + std::string(event) + "\"} " + std::to_string(n) + "\n";
    }
    return out;
}

} // namespace ksid::facade
