#pragma once
// What a tenant's windows look like to a client, pure: OpenAI's x-ratelimit-* headers (resets as Go
// duration strings, "6m0s"), Anthropic's anthropic-ratelimit-* (resets as RFC 3339 times), Retry-After.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ksid::protocol {

struct WindowReport {
    std::int64_t limit = 0;
    std::int64_t remaining = 0;
    std::int64_t reset_ms = 0; // until the window is full again
};

struct RateLimitReport {
    std::optional<WindowReport> requests; // the key's rpm window, when it has one
    std::optional<WindowReport> tokens;   // its tpm window
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// "6m0s", "1s", "1.5s", "250ms", "0s": Go's time.Duration text, as OpenAI sends it (to the millisecond).
std::string go_duration_text(std::int64_t ms);
// "2026-12-02T10:00:00Z" for a Unix time in milliseconds (rounded up to the second).
std::string rfc3339_utc(std::int64_t unix_ms);
// Retry-After's whole seconds for a wait, at least 1.
std::string retry_after_seconds(std::int64_t ms);

HeaderList openai_rate_limit_headers(const RateLimitReport& report);
HeaderList anthropic_rate_limit_headers(const RateLimitReport& report, std::int64_t now_unix_ms);

} // namespace ksid::protocol
