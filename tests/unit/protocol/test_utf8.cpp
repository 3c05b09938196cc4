#include "protocol/utf8.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;

TEST_CASE("valid UTF-8 is accepted") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("plain ascii"));
    CHECK(is_valid_utf8("caf\xc3\xa9"));
    CHECK(is_valid_utf8("\xe2\x82\xac"));     // €
    CHECK(is_valid_utf8("\xf0\x9f\xa4\x96")); // 🤖
    CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf")); // U+10FFFF
}

TEST_CASE("invalid UTF-8 is rejected as Python's strict decoder does") {
    CHECK_FALSE(is_valid_utf8("\xff"));
    CHECK_FALSE(is_valid_utf8("\xc3"));             // truncated
    CHECK_FALSE(is_valid_utf8("\xc0\xaf"));         // overlong
    CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));     // overlong
    CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));     // surrogate
    CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80")); // > U+10FFFF
    CHECK_FALSE(is_valid_utf8("\x80"));             // lone continuation
    CHECK_FALSE(is_valid_utf8("ok\xe2\x82"));
}

TEST_CASE("code points are counted like Python's len()") {
    CHECK(count_code_points("") == 0);
    CHECK(count_code_points("abc") == 3);
    CHECK(count_code_points("caf\xc3\xa9") == 4);
    CHECK(count_code_points("\xf0\x9f\xa4\x96!") == 2);
}
