#include "protocol/timestamp.hpp"

#include <cstdio>
#include <ctime>

namespace ksid::protocol {

std::string legacy_timestamp(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
    auto secs = static_cast<std::time_t>(us / 1'000'000);
    auto frac = static_cast<long>(us % 1'000'000);
    if (frac < 0) {
        frac += 1'000'000;
        --secs;
    }
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac != 0) n += std::snprintf(buf + n, sizeof buf - n, ".%06ld", frac);
    buf[n++] = 'Z';
    return std::string(buf, n);
}

std::string legacy_timestamp_now() {
    return legacy_timestamp(std::chrono::system_clock::now());
}

} // namespace ksid::protocol
