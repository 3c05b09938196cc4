#pragma once
// When the API shim retries an upstream call, as a pure function: only where the upstream provably did
// nothing (it could not be connected to, or it answered 429, 503 or Anthropic's 529 overloaded_error before
// any body), after its Retry-After / retry-after-ms or an exponential back-off with jitter, within the
// attempts and the time left. A reset mid-response, 500, 502, 504 or an unreadable answer is never
// retried: the run may have used tools and must not run twice.
#include <chrono>
#include <optional>
#include <string_view>

namespace ksid::protocol {

struct UpstreamAttempt {
    bool connect_failed = false; // nothing was sent
    int status = 0;              // the HTTP status when it answered
    bool body_started = false;   // some of the body was handed on
    std::string_view retry_after, retry_after_ms;
};

struct RetryPolicy {
    unsigned retry_attempts = 3;  // retries after the first attempt
    double backoff_seconds = 0.5; // doubled per attempt
    double max_backoff_seconds = 30;
};

// attempt: 0 for the first. jitter: a number in [0.5, 1] that scales the back-off. remaining: the time
// left before the call's deadline. nullopt: report the failure, do not retry.
std::optional<std::chrono::milliseconds> upstream_retry_delay(const RetryPolicy& policy,
                                                              const UpstreamAttempt& attempt_result,
                                                              unsigned attempt, double jitter,
                                                              std::chrono::system_clock::time_point now,
                                                              std::chrono::milliseconds remaining);

// The attempt is one the upstream provably did not act on.
bool upstream_did_nothing(const UpstreamAttempt& attempt_result);

} // namespace ksid::protocol
