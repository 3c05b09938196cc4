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

double unix_time_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double utc_month_start(double t, int months_ahead) {
    const std::time_t s = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon += months_ahead; // timegm normalises a month past December
    return static_cast<double>(timegm(&tm));
}

} // namespace ksid::protocol
