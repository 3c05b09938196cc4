#pragma once
// Counters of every turn the TurnService ran (socket and HTTP alike), for /metrics: how turns ended,
// how long they waited for a slot, tokens and cost. Plain numbers on the event loop thread.
#include <array>
#include <map>
#include <string>

namespace ksid::daemon {

// A number as the Prometheus text format writes it (shortest exact form).
std::string prometheus_number(double v);

// A latency histogram with fixed bucket bounds (seconds), rendered in the Prometheus text format.
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

struct TurnStats {
    std::map<std::string, unsigned long long> ended; // by cause: completed, timed_out, client_gone, ...
    Histogram queue_wait;
    long long prompt_tokens = 0, completion_tokens = 0;
    double cost_usd = 0;
};

} // namespace ksid::daemon
