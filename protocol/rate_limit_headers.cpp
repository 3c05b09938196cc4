#include "protocol/rate_limit_headers.hpp"

#include <cstdio>
#include <ctime>

namespace ksid::protocol {

std::string go_duration_text(std::int64_t ms) {
    if (ms <= 0) return "0s";
    if (ms < 1000) return std::to_string(ms) + "ms";
    const std::int64_t h = ms / 3'600'000;
    const std::int64_t m = ms / 60'000 % 60;
    const std::int64_t s = ms / 1000 % 60;
    const std::int64_t frac = ms % 1000;
    std::string out;
    if (h) out += std::to_string(h) + "h";
    if (h || m) out += std::to_string(m) + "m";
    out += std::to_string(s);
    if (frac) {
        char buf[8];
        std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(frac));
        std::string f(buf);
        while (f.back() == '0')
            f.pop_back();
        out += f;
    }
    return out + "s";
}

std::string rfc3339_utc(std::int64_t unix_ms) {
    const std::time_t t = static_cast<std::time_t>((unix_ms + 999) / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string retry_after_seconds(std::int64_t ms) {
    const std::int64_t s = (ms + 999) / 1000;
    return std::to_string(s < 1 ? 1 : s);
}

HeaderList openai_rate_limit_headers(const RateLimitReport& r) {
    HeaderList h;
    auto add = [&](const char* what, const WindowReport& w) {
        const std::string n(what);
        h.emplace_back("x-ratelimit-limit-" + n, std::to_string(w.limit));
        h.emplace_back("x-ratelimit-remaining-" + n, std::to_string(w.remaining));
        h.emplace_back("x-ratelimit-reset-" + n, go_duration_text(w.reset_ms));
    };
    if (r.requests) add("requests", *r.requests);
    if (r.tokens) add("tokens", *r.tokens);
    return h;
}

HeaderList anthropic_rate_limit_headers(const RateLimitReport& r, std::int64_t now_unix_ms) {
    HeaderList h;
    auto add = [&](const char* what, const WindowReport& w) {
        const std::string n(what);
        h.emplace_back("anthropic-ratelimit-" + n + "-limit", std::to_string(w.limit));
        h.emplace_back("anthropic-ratelimit-" + n + "-remaining", std::to_string(w.remaining));
        h.emplace_back("anthropic-ratelimit-" + n + "-reset", rfc3339_utc(now_unix_ms + w.reset_ms));
    };
    if (r.requests) add("requests", *r.requests);
    if (r.tokens) add("tokens", *r.tokens);
    return h;
}

} // namespace ksid::protocol
