#include "daemon/services/yaml_values.hpp"
#include "protocol/prompt_template.hpp"
#include "protocol/python_condition.hpp"
#include "protocol/python_json.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

using namespace ksid::protocol;
namespace json = boost::json;

namespace {
bool holds(const char* condition, const char* context_json) {
    return condition_holds(condition, json::parse(context_json).as_object());
}
} // namespace

TEST_CASE("conditions: the shipped shapes") {
    CHECK(holds("{{x}}", R"({"x": "yes"})"));
    CHECK_FALSE(holds("{{x}}", R"({"x": ""})"));
    CHECK_FALSE(holds("{{x}}", R"({"x": 0})"));
    CHECK_FALSE(holds("{{x}}", R"({"x": false})"));
    CHECK_FALSE(holds("{{x}}", R"({"x": null})"));
    CHECK_FALSE(holds("{{x}}", R"({"x": []})"));
    CHECK_FALSE(holds("{{x}}", R"({"x": {}})"));
    CHECK_FALSE(holds("{{x}}", R"({"x": 0.0})"));
    CHECK(holds("{{x}} == 'debate'", R"({"x": "debate"})"));
    CHECK_FALSE(holds("{{x}} == 'debate'", R"({"x": "teach"})"));
    CHECK(holds("{{x}} == 1", R"({"x": 1})"));
    CHECK(holds("{{x}} == 1", R"({"x": true})"));      // True == 1
    CHECK_FALSE(holds("{{x}} == 1", R"({"x": "1"})")); // str == int is False
    CHECK(holds("{{x}} > 2", R"({"x": 3})"));
    CHECK_FALSE(holds("{{x}} > 2", R"({"x": 2})"));
    CHECK(holds("{{x}} > 2", R"({"x": "1"})")); // str > int raises: error -> true (spec, observed)
    CHECK(holds("{{x}} in ['a', 'b']", R"({"x": "b"})"));
    CHECK_FALSE(holds("{{x}} in ['a', 'b']", R"({"x": "c"})"));
}

TEST_CASE("conditions: anything that would raise counts as true") {
    CHECK(holds("{{missing}} == 'x'", R"({"x": 1})"));  // placeholder left in place
    CHECK(holds("{{x}} == 'a'", R"({"x": "it's"})"));   // a quote breaks the literal
    CHECK(holds("{{x}} == 'a'", R"({"x": "two\nlines"})"));
    CHECK(holds("__import__('os')", R"({})"));         // names are never evaluated
    CHECK(holds("{{x}} ==", R"({"x": 1})"));
    CHECK(holds("", R"({})"));
}

TEST_CASE("conditions: values rendered with str()") {
    CHECK(holds("{{x}} == True", R"({"x": true})"));
    CHECK(holds("{{x}} is None", R"({"x": null})"));
    CHECK(holds("{{x}} == 1.0", R"({"x": 1})"));
    CHECK(holds("{{x}} == [1, 'a']", R"({"x": [1, "a"]})"));
    CHECK(holds("{{x}} == {'k': None}", R"({"x": {"k": null}})"));
    CHECK(holds("'b' in {{x}}", R"({"x": "abc"})"));
    CHECK_FALSE(holds("not {{x}}", R"({"x": "abc"})"));
    CHECK(holds("{{x}} == 'a' or {{y}} == 'b'", R"({"x": "z", "y": "b"})"));
    CHECK(holds("'a\\tb' == {{x}}", R"({"x": "a\tb"})")); // backslash escapes are interpreted
    CHECK(substitute_condition("{{a}} {{b}} {{a}}", json::parse(R"({"a": "s", "b": 2.5})").as_object()) == "'s' 2.5 's'");
}

TEST_CASE("substitution: vars overlaid by context, in order, chained") {
    auto vars = json::parse(R"({"role": "a Claude agent with ID {{agent_id}}", "x": "v"})").as_object();
    auto context = json::parse(R"({"agent_id": "A1", "x": 1.0, "new": [true, null]})").as_object();
    auto merged = merge_variables(vars, context);
    CHECK(to_python_json(merged) == R"({"role": "a Claude agent with ID {{agent_id}}", "x": 1.0, "agent_id": "A1", "new": [true, null]})");
    std::string text = "{{role}} | {{x}} | {{new}} | {{unknown}}";
    REQUIRE(substitute_variables(text, merged));
    CHECK(text == "a Claude agent with ID A1 | 1.0 | [True, None] | {{unknown}}");
}

TEST_CASE("substitution: growth is bounded and linear") {
    // each variable doubles the text: 2^20 copies of "x" in the end, and a cap that refuses more
    json::object vars;
    for (int i = 0; i < 20; ++i) vars["v" + std::to_string(i)] = "{{v" + std::to_string(i + 1) + "}}{{v" + std::to_string(i + 1) + "}}";
    vars["v20"] = "x";
    std::string text = "{{v0}}";
    REQUIRE(substitute_variables(text, vars));
    CHECK(text.size() == (1u << 20));
    text = "{{v0}}";
    CHECK_FALSE(substitute_variables(text, vars, 1000));
    CHECK(text == "{{v0}}");
}

TEST_CASE("YAML 1.1 scalars as PyYAML reads them") {
    using ksid::daemon::yaml11_plain_scalar;
    CHECK(yaml11_plain_scalar("2").as_int64() == 2);
    CHECK(yaml11_plain_scalar("-17").as_int64() == -17);
    CHECK(yaml11_plain_scalar("0x1F").as_int64() == 31);
    CHECK(yaml11_plain_scalar("010").as_int64() == 8); // YAML 1.1 octal
    CHECK(yaml11_plain_scalar("1_000").as_int64() == 1000);
    CHECK(yaml11_plain_scalar("1:30").as_int64() == 90); // base 60
    CHECK(yaml11_plain_scalar("1.0").as_double() == 1.0);
    CHECK(yaml11_plain_scalar("1e3").is_string()); // YAML 1.1 floats need a dot
    CHECK(yaml11_plain_scalar("1.5e+3").as_double() == 1500.0);
    for (auto t : {"yes", "Yes", "YES", "on", "On", "true", "True"}) CHECK(yaml11_plain_scalar(t).as_bool());
    for (auto t : {"no", "No", "off", "OFF", "false", "False"}) CHECK_FALSE(yaml11_plain_scalar(t).as_bool());
    for (auto t : {"~", "null", "Null", "NULL", ""}) CHECK(yaml11_plain_scalar(t).is_null());
    CHECK(yaml11_plain_scalar("2025-06-22").is_string());
    CHECK(yaml11_plain_scalar("y").is_string()); // unlike YAML 1.1's spec, PyYAML keeps y/n as strings
}

TEST_CASE("YAML documents keep key order and quoted scalars stay strings") {
    auto v = ksid::daemon::yaml_to_json(YAML::Load("b: 1\na: \"1.0\"\nc: [yes, 'no', ~]\nd: {z: 1, y: 2}\n"));
    CHECK(to_python_json(v) == R"({"b": 1, "a": "1.0", "c": [true, "no", null], "d": {"z": 1, "y": 2}})");
}
