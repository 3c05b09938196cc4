#include "protocol/json_parse.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ksid::protocol;

TEST_CASE("valid JSON parses; duplicate keys keep the last value in the first position") {
    auto r = parse_json_text(R"({"a": 1, "b": 2, "a": 3})");
    REQUIRE(r.has_value());
    CHECK(r->at("a").as_int64() == 3);
    CHECK(r->as_object().begin()->key() == "a");
}

TEST_CASE("errors carry Python's wording") {
    CHECK(parse_json_text("").error().detail == "Expecting value: line 1 column 1 (char 0)");
    CHECK(parse_json_text("HEALTH_CHECK").error().detail == "Expecting value: line 1 column 1 (char 0)");
    CHECK(parse_json_text("SPAWN:sync:claude").error().detail == "Expecting value: line 1 column 1 (char 0)");
    CHECK(parse_json_text(R"({"a": 1} {"b": 2})").error().detail == "Extra data: line 1 column 10 (char 9)");
    CHECK(parse_json_text(R"({"a": })").error().detail == "Expecting value: line 1 column 7 (char 6)");
    CHECK(parse_json_text(R"("abc)").error().detail.starts_with(
        "Unterminated string starting at: line 1 column 1"));
}

TEST_CASE("nesting up to 1000 levels is accepted, deeper is an error") {
    std::string ok = std::string(1000, '[') + std::string(1000, ']');
    CHECK(parse_json_text(ok).has_value());
    std::string deep = std::string(1001, '[') + std::string(1001, ']');
    CHECK_FALSE(parse_json_text(deep).has_value());
    std::string flood(100000, '[');
    CHECK_FALSE(parse_json_text(flood).has_value());
}

TEST_CASE("NaN and Infinity are rejected (an accepted deviation)") {
    CHECK_FALSE(parse_json_text(R"({"a": NaN})").has_value());
    CHECK_FALSE(parse_json_text(R"({"a": Infinity})").has_value());
}

TEST_CASE("numbers a json::value cannot hold as written are found; everything else is not") {
    for (const char* text : {"1e309", "-1e309", "[1, 2E400]", "1.8e308", "18446744073709551616",
                             "-9223372036854775809", "{\"a\": 123456789012345678901234567890}"}) {
        INFO(text);
        CHECK(find_unrepresentable_number(text).has_value());
    }
    CHECK(*find_unrepresentable_number(R"({"a": "1e999", "b": [0.5, -1e400]})") == "-1e400");
    for (const char* text : {"0", "-0", "18446744073709551615", "-9223372036854775808", "1e308",
                             "1.7976931348623157e308", "1e-400", "0.1", "[1.5e10, -2]", "true", R"("1e309")",
                             R"(["\"1e309", "\\", 2])", R"({"123456789012345678901234567890": 1})"}) {
        INFO(text);
        CHECK_FALSE(find_unrepresentable_number(text).has_value());
    }
}

TEST_CASE("parse_exact_json_text refuses what would not read back as written") {
    CHECK(parse_exact_json_text(R"({"value": 18446744073709551615})").has_value());
    auto r = parse_exact_json_text(R"({"value": 1e309})");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().detail == "Number out of range: 1e309: line 1 column 11 (char 10)");
    r = parse_exact_json_text(std::string(60, '9'));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().detail ==
          "Number out of range: " + std::string(40, '9') + "...: line 1 column 1 (char 0)");
    CHECK(parse_exact_json_text("{torn").error().detail == parse_json_text("{torn").error().detail);
}
