#include "protocol/upstream_retry.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;
using std::chrono::milliseconds;

TEST_CASE("retry policy: only where the upstream did nothing") {
    const RetryPolicy policy{3, 0.5, 30};
    const auto now = std::chrono::system_clock::now();
    const milliseconds plenty{600'000};
    UpstreamAttempt refused{true, 0, false, "", ""};
    CHECK(upstream_retry_delay(policy, refused, 0, 1.0, now, plenty) == milliseconds(500));
    CHECK(upstream_retry_delay(policy, refused, 1, 1.0, now, plenty) == milliseconds(1000));
    CHECK(upstream_retry_delay(policy, refused, 2, 0.5, now, plenty) == milliseconds(1000)); // jitter halves
    CHECK_FALSE(upstream_retry_delay(policy, refused, 3, 1.0, now, plenty)); // three retries, then report
    for (int status : {429, 503, 529}) { // 529: Anthropic's overloaded_error
        UpstreamAttempt busy{false, status, false, "", ""};
        CHECK(upstream_retry_delay(policy, busy, 0, 1.0, now, plenty) == milliseconds(500));
        busy.retry_after = "2";
        CHECK(upstream_retry_delay(policy, busy, 0, 1.0, now, plenty) == milliseconds(2000));
        busy.retry_after_ms = "150";
        CHECK(upstream_retry_delay(policy, busy, 0, 1.0, now, plenty) == milliseconds(150));
        busy.body_started = true; // it began answering: it may have run
        CHECK_FALSE(upstream_retry_delay(policy, busy, 0, 1.0, now, plenty));
    }
    for (int status : {400, 404, 500, 502, 504, 200}) {
        CAPTURE(status);
        CHECK_FALSE(upstream_retry_delay(policy, {false, status, false, "", ""}, 0, 1.0, now, plenty));
    }
}

TEST_CASE("retry policy: back-off bounds and the time left") {
    const auto now = std::chrono::system_clock::now();
    const RetryPolicy policy{20, 4, 30};
    UpstreamAttempt refused{true, 0, false, "", ""};
    CHECK(upstream_retry_delay(policy, refused, 15, 1.0, now, milliseconds(600'000)) == milliseconds(30'000));
    CHECK(upstream_retry_delay(policy, refused, 0, 7.0, now, milliseconds(600'000)) ==
          milliseconds(4000)); // jitter ≤ 1
    CHECK_FALSE(
        upstream_retry_delay(policy, refused, 0, 1.0, now, milliseconds(4000))); // would pass the deadline
    UpstreamAttempt busy{false, 429, false, "60", ""};
    CHECK_FALSE(upstream_retry_delay(policy, busy, 0, 1.0, now, milliseconds(59'000)));
    CHECK(upstream_retry_delay({0, 0.5, 30}, refused, 0, 1.0, now, milliseconds(600'000)) == std::nullopt);
}
