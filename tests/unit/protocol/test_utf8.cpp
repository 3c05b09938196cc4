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

TEST_CASE("escape_controls: control characters and non-UTF-8 bytes become visible escapes") {
    CHECK(escape_controls("plain text, caf\xc3\xa9 \xe2\x82\xac") == "plain text, caf\xc3\xa9 \xe2\x82\xac");
    CHECK(escape_controls("a\nb\rc\td") == "a\\nb\\rc\\td");
    CHECK(escape_controls("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
    CHECK(escape_controls(std::string("nul\0del\x7f", 8)) == "nul\\x00del\\x7f");
    CHECK(escape_controls("csi\xc2\x9b"
                          "31m") == "csi\\u009b31m"); // C1 control as UTF-8
    CHECK(escape_controls("raw\x9b"
                          "31m \xff") == "raw\\x9b31m \\xff"); // bytes that are not UTF-8
    CHECK(escape_controls("cut\xe2\x82") == "cut\\xe2\\x82");
    CHECK(escape_controls("\xc2\xa0nbsp") == "\xc2\xa0nbsp"); // U+00A0 is printable
}

TEST_CASE("utf8_prefix cuts after whole code points, as Python's text[:n]") {
    CHECK(utf8_prefix("hello", 3) == "hel");
    CHECK(utf8_prefix("hello", 50) == "hello");
    CHECK(utf8_prefix("h\xc3\xa9llo", 2) == "h\xc3\xa9");
    CHECK(utf8_prefix("\xf0\x9f\x98\x80x", 1) == "\xf0\x9f\x98\x80");
    CHECK(utf8_prefix("abc", 0) == "");
}
