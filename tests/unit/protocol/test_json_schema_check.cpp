#include "protocol/json_schema_check.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

using namespace ksid::protocol;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

json::value parse(std::string_view text) { return json::parse(text); }

// Debian's json-schema-test-suite (scripts/setup installs it).
const fs::path suite = "/usr/share/json-schema-test-suite/tests/draft7";

// What the local check leaves to the CLI or refuses, by design (README "Structured output").
const std::set<std::string> left_out{
    "pattern.json",           // regular expressions are the CLI's to check
    "patternProperties.json", // refused
    "refRemote.json",         // remote $refs are refused: ksid fetches nothing
};

} // namespace

TEST_CASE("json schema: the draft 7 JSON-Schema-Test-Suite, but for what ksid leaves to the CLI") {
    REQUIRE_MESSAGE(fs::is_directory(suite), "json-schema-test-suite is not installed: run scripts/setup");
    int passed = 0, failed = 0, refused = 0;
    std::ostringstream failures;
    for (const auto& entry : fs::directory_iterator(suite)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
        const auto file = entry.path().filename().string();
        if (left_out.count(file)) continue;
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        const json::value groups = json::parse(text.str());
        for (const auto& group : groups.as_array()) {
            const auto& schema = group.at("schema");
            auto check = JsonSchemaCheck::compile(schema.is_bool() ? json::value(json::object{{"not", json::object()}})
                                                                   : schema);
            if (schema.is_bool()) continue; // a boolean root schema is not an object: not a structured output
            for (const auto& test : group.at("tests").as_array()) {
                const bool valid = test.at("valid").as_bool();
                if (!check) { // refused: only for what the README says ksid refuses
                    const bool documented = check.error().find("patternProperties") != std::string::npos ||
                                            check.error().find("only local $refs") != std::string::npos;
                    CHECK_MESSAGE(documented, file << ": " << check.error());
                    ++refused;
                    continue;
                }
                const bool got = check->violations(test.at("data")).empty();
                if (got == valid) {
                    ++passed;
                } else {
                    ++failed;
                    failures << file << ": " << json::value_to<std::string>(group.at("description")) << " / "
                             << json::value_to<std::string>(test.at("description"))
                             << "\n";
                }
            }
        }
    }
    MESSAGE("draft 7: " << passed << " passed, " << failed << " failed, " << refused
                         << " refused (patternProperties, remote $ref)\n"
                         << failures.str());
    CHECK(passed > 340);
    CHECK(refused < 30);
    CHECK(failed == 0);
}

TEST_CASE("json schema: pattern and format are left out of the local check, patternProperties refused") {
    const auto schema = parse(R"({"type":"object","properties":{
        "pattern":{"type":"string","pattern":"^a+$"},
        "when":{"type":"string","format":"date-time"},
        "kind":{"enum":[{"pattern":"kept: data"}]}},
      "required":["pattern"]})");
    CHECK(without_regex_keywords(schema) == parse(R"({"type":"object","properties":{
        "pattern":{"type":"string"},
        "when":{"type":"string"},
        "kind":{"enum":[{"pattern":"kept: data"}]}},
      "required":["pattern"]})"));
    auto check = JsonSchemaCheck::compile(schema);
    REQUIRE(check.has_value());
    CHECK(check->violations(parse(R"({"pattern":"bbb","when":"not a date"})")).empty()); // the CLI checks these
    const auto why = check->violations(parse(R"({"pattern":5})"));
    CHECK(why.find("pattern") != std::string::npos); // the path names the property
    CHECK_FALSE(check->violations(parse(R"({})")).empty());

    CHECK_FALSE(JsonSchemaCheck::compile(parse(R"({"patternProperties":{"^x":{}}})")).has_value());
    CHECK_FALSE(JsonSchemaCheck::compile(parse(R"({"properties":{"a":{"patternProperties":{"^x":{}}}}})")).has_value());
    CHECK(JsonSchemaCheck::compile(parse(R"({"properties":{"patternProperties":{"type":"string"}}})")).has_value());
    CHECK_FALSE(JsonSchemaCheck::compile(parse(R"({"$ref":"https://example.com/s.json"})")).has_value());
    CHECK_FALSE(JsonSchemaCheck::compile(parse(R"([1])")).has_value());
    CHECK_FALSE(JsonSchemaCheck::compile(parse(R"({"type":7})")).has_value());
}

TEST_CASE("json schema: what would make valijson recurse without end or blow up is refused") {
    for (const char* schema : {
             R"({"$ref":"#"})",
             R"({"allOf":[{"$ref":"#"}]})",
             R"({"not":{"not":{"$ref":"#/not"}}})",
             R"({"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"anyOf":[{"$ref":"#/definitions/a"}]}},"$ref":"#/definitions/a"})",
             R"({"$ref":"other.json#/x"})",
             R"({"$ref":"#anchor"})",
         }) {
        auto check = JsonSchemaCheck::compile(parse(schema));
        CHECK_MESSAGE(!check.has_value(), schema);
    }
    // A recursive schema that descends into the value is fine (a linked list).
    auto list = JsonSchemaCheck::compile(parse(R"({"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}},
                                                   "$ref":"#/$defs/n"})"));
    REQUIRE(list.has_value());
    CHECK(list->violations(parse(R"({"next":{"next":{}}})")).empty());
    CHECK_FALSE(list->violations(parse(R"({"next":{"next":5}})")).empty());
    // allOf diamonds double the work at each level: over 256 schemas in place is refused up front.
    json::object defs;
    for (int i = 0; i < 12; ++i) {
        const auto next = "#/$defs/a" + std::to_string(i + 1);
        defs["a" + std::to_string(i)] = json::object{{"allOf", json::array{json::object{{"$ref", next}}, json::object{{"$ref", next}}}}};
    }
    defs["a12"] = json::object{{"type", "object"}};
    auto diamond = JsonSchemaCheck::compile(json::object{{"$defs", defs}, {"$ref", "#/$defs/a0"}});
    REQUIRE_FALSE(diamond.has_value());
    CHECK(diamond.error().find("in place") != std::string::npos);
    // Values are bounded too.
    auto any = JsonSchemaCheck::compile(parse(R"({"type":"array"})"));
    REQUIRE(any.has_value());
    json::value deep = json::array();
    for (int i = 0; i < 70; ++i) deep = json::array{deep};
    CHECK(any->violations(deep).find("64 levels") != std::string::npos);
}
