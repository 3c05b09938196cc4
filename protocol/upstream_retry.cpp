#include "protocol/upstream_retry.hpp"

#include "protocol/upstream_common.hpp"

#include <algorithm>

namespace ksid::protocol {

bool upstream_did_nothing(const UpstreamAttempt& a) {
    return a.connect_failed || ((a.status == 429 || a.status == 503 || a.status == 529) && !a.body_started);
}

std::optional<std::chrono::milliseconds>
upstream_retry_delay(const RetryPolicy& policy, const UpstreamAttempt& a, unsigned attempt, double jitter,
                     std::chrono::system_clock::time_point now, std::chrono::milliseconds remaining) {
    if (!upstream_did_nothing(a) || attempt >= policy.retry_attempts) return std::nullopt;
    const double base = policy.backoff_seconds * static_cast<double>(1u << std::min(attempt, 10u));
    const double seconds = std::min(base * std::clamp(jitter, 0.5, 1.0), policy.max_backoff_seconds);
    auto delay = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    if (!a.connect_failed)
        if (auto told = parse_retry_after(a.retry_after, a.retry_after_ms, now)) delay = *told;
    if (delay >= remaining) return std::nullopt;
    return delay;
}

} // namespace ksid::protocol
