#include "protocol/key_limits.hpp"

#include "protocol/json_parse.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;
namespace json = boost::json;

namespace {
json::object object_of(std::string_view text) {
    return parse_json_text(text)->as_object();
}
} // namespace

TEST_CASE("limits round-trip through JSON, null clearing a limit") {
    KeyLimits l;
    REQUIRE_FALSE(apply_key_limits(object_of(R"({"concurrent":2,"rpm":60,"daily_usd":5.5,"models":["sonnet"],
                                                 "priority":2,"tools":false})"),
                                   l));
    CHECK(l.concurrent == 2);
    CHECK(l.rpm == 60);
    CHECK(l.daily_usd == 5.5);
    CHECK(l.models == std::vector<std::string>{"sonnet"});
    CHECK(l.priority == 2);
    CHECK_FALSE(l.tools);
    KeyLimits back;
    REQUIRE_FALSE(apply_key_limits(key_limits_json(l), back));
    CHECK(back == l);
    REQUIRE_FALSE(apply_key_limits(object_of(R"({"rpm":null,"models":null})"), l));
    CHECK_FALSE(l.rpm);
    CHECK(l.models.empty());
    CHECK(l.concurrent == 2); // untouched
}

TEST_CASE("a bad change is refused whole and says what is wrong") {
    KeyLimits l;
    l.rpm = 5;
    auto err = apply_key_limits(object_of(R"({"rpm":10,"tpm":-1})"), l);
    REQUIRE(err);
    CHECK(err->find("tpm") != std::string::npos);
    CHECK(l.rpm == 5); // the valid part did not apply either
    CHECK(apply_key_limits(object_of(R"({"rmp":1})"), l)->find("unknown limit 'rmp'") != std::string::npos);
    CHECK(apply_key_limits(object_of(R"({"priority":10})"), l));
    CHECK(apply_key_limits(object_of(R"({"daily_usd":"5"})"), l));
    CHECK(apply_key_limits(object_of(R"({"models":["bad name"]})"), l));
    CHECK(apply_key_limits(object_of(R"({"rpm":1.5})"), l));
    CHECK(apply_key_limits(object_of(R"({"tools":"yes"})"), l));
}

TEST_CASE("command-line options and usage.local_limits") {
    KeyLimits l;
    CHECK_FALSE(apply_key_limit_option("daily-usd", "2.5", l));
    CHECK(l.daily_usd == 2.5);
    CHECK_FALSE(apply_key_limit_option("models", "sonnet,haiku", l));
    CHECK(l.models.size() == 2);
    CHECK_FALSE(apply_key_limit_option("tools", "no", l));
    CHECK_FALSE(l.tools);
    CHECK_FALSE(apply_key_limit_option("daily-usd", "none", l));
    CHECK_FALSE(l.daily_usd);
    CHECK(apply_key_limit_option("rpm", "ten", l));
    CHECK(apply_key_limit_option("bogus", "1", l));
    KeyLimits local;
    CHECK_FALSE(apply_key_limit_options("concurrent=2 rpm=30  tpm=1000 models=sonnet,haiku", local));
    CHECK(local.concurrent == 2);
    CHECK(local.rpm == 30);
    CHECK(local.tpm == 1000);
    CHECK(apply_key_limit_options("concurrent", local));
    CHECK(apply_key_limit_options("rpm=x", local));
    CHECK_FALSE(apply_key_limit_options("", local));
}

TEST_CASE("key names") {
    CHECK(is_valid_key_name("alice"));
    CHECK(is_valid_key_name("team-a.ci_1"));
    CHECK_FALSE(is_valid_key_name(""));
    CHECK_FALSE(is_valid_key_name("-x"));
    CHECK_FALSE(is_valid_key_name(".x"));
    CHECK_FALSE(is_valid_key_name("a b"));
    CHECK_FALSE(is_valid_key_name(std::string(65, 'a')));
}
