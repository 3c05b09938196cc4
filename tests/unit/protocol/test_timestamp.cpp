#include "protocol/timestamp.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;
using namespace std::chrono;

TEST_CASE("legacy timestamps have microseconds and a Z") {
    const auto t = system_clock::time_point(seconds(1750605449) + microseconds(123456));
    CHECK(legacy_timestamp(t) == "2025-06-22T15:17:29.123456Z");
}

TEST_CASE("the fraction is left out when the microseconds are 0, as Python does") {
    CHECK(legacy_timestamp(system_clock::time_point(seconds(1750605449))) == "2025-06-22T15:17:29Z");
    CHECK(legacy_timestamp(system_clock::time_point(seconds(1750605449) + microseconds(5))) ==
          "2025-06-22T15:17:29.000005Z");
}

TEST_CASE("now is well formed") {
    const auto s = legacy_timestamp_now();
    CHECK(s.size() >= 20);
    CHECK(s.back() == 'Z');
    CHECK(s[10] == 'T');
}
