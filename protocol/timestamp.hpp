#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ksid::protocol {

// The legacy timestamp: UTC ISO-8601 with microseconds and a literal Z, e.g. 2025-06-22T15:17:30.123456Z;
// like Python's isoformat() the fraction is left out when the microseconds are exactly 0.
std::string legacy_timestamp(std::chrono::system_clock::time_point t);
std::string legacy_timestamp_now();

// Now, as Unix seconds.
double unix_time_now();
// Now, as Unix milliseconds (what a front stamps on a job and a worker measures its wait from).
std::int64_t unix_ms_now();
// The Unix time of 00:00 UTC on the first of the month `t` is in, or of a month after it.
double utc_month_start(double t, int months_ahead = 0);

} // namespace ksid::protocol
