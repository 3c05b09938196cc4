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
