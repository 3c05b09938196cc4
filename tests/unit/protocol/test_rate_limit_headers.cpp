#include "protocol/rate_limit_headers.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace ksid::protocol;

TEST_CASE("resets are written as Go durations, as OpenAI sends them") {
    CHECK(go_duration_text(0) == "0s");
    CHECK(go_duration_text(-5) == "0s");
    CHECK(go_duration_text(20) == "20ms");
    CHECK(go_duration_text(1000) == "1s");
    CHECK(go_duration_text(1500) == "1.5s");
    CHECK(go_duration_text(59'999) == "59.999s");
    CHECK(go_duration_text(360'000) == "6m0s");
    CHECK(go_duration_text(3'723'000) == "1h2m3s");
    CHECK(go_duration_text(3'600'000) == "1h0m0s");
}

TEST_CASE("Retry-After is whole seconds, at least one") {
    CHECK(retry_after_seconds(0) == "1");
    CHECK(retry_after_seconds(1) == "1");
    CHECK(retry_after_seconds(1001) == "2");
    CHECK(retry_after_seconds(60'000) == "60");
}

TEST_CASE("the OpenAI and Anthropic headers of a tenant's windows") {
    RateLimitReport r;
    r.requests = WindowReport{60, 59, 1000};
    r.tokens = WindowReport{100000, 99000, 360'000};
    std::map<std::string, std::string> o;
    for (auto& [k, v] : openai_rate_limit_headers(r))
        o[k] = v;
    CHECK(o.at("x-ratelimit-limit-requests") == "60");
    CHECK(o.at("x-ratelimit-remaining-requests") == "59");
    CHECK(o.at("x-ratelimit-reset-requests") == "1s");
    CHECK(o.at("x-ratelimit-limit-tokens") == "100000");
    CHECK(o.at("x-ratelimit-remaining-tokens") == "99000");
    CHECK(o.at("x-ratelimit-reset-tokens") == "6m0s");
    std::map<std::string, std::string> a;
    for (auto& [k, v] : anthropic_rate_limit_headers(r, 1'764'669'600'000)) // 2025-12-02T10:00:00Z
        a[k] = v;
    CHECK(a.at("anthropic-ratelimit-requests-limit") == "60");
    CHECK(a.at("anthropic-ratelimit-requests-remaining") == "59");
    CHECK(a.at("anthropic-ratelimit-requests-reset") == "2025-12-02T10:00:01Z");
    CHECK(a.at("anthropic-ratelimit-tokens-reset") == "2025-12-02T10:06:00Z");
    CHECK(openai_rate_limit_headers({}).empty()); // a key without windows sends none
}
