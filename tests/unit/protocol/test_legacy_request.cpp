#include "protocol/legacy_request.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ksid::protocol;
using Kind = DecodedLine::Kind;

TEST_CASE("a well-formed request decodes with its parameters") {
    auto d = decode_legacy_line(
        R"({"command": "GET_SHARED", "version": "2.0", "parameters": {"key": "k1"}, "metadata": {"request_id": "r-1"}})",
        LinePosition::first);
    REQUIRE(d.kind == Kind::request);
    CHECK(d.request.command == "GET_SHARED");
    CHECK(d.request.parameters.at("key").as_string() == "k1");
    CHECK_FALSE(d.makes_persistent);
}

TEST_CASE("missing parameters become {}; explicit null is kept") {
    auto d = decode_legacy_line(R"({"version": "2.0", "command": "HEALTH_CHECK"})", LinePosition::first);
    REQUIRE(d.kind == Kind::request);
    CHECK(d.request.parameters.is_object());
    d = decode_legacy_line(R"({"command": "HEALTH_CHECK", "version": null, "parameters": null})",
                           LinePosition::first);
    REQUIRE(d.kind == Kind::request);
    CHECK(d.request.parameters.is_null());
}

TEST_CASE("whitespace and \\r around the line are stripped") {
    auto d =
        decode_legacy_line(" \t{\"command\": \"HEALTH_CHECK\", \"version\": \"2.0\"}\r", LinePosition::first);
    CHECK(d.kind == Kind::request);
}

// Spec §3.4, every row of the malformed-input table (first line of a connection).
TEST_CASE("malformed first line: not JSON -> INVALID_JSON without timestamp") {
    for (std::string line : {"", "SPAWN:sync:claude::sonnet::hi", "{not json", "{\"a\": 1} {\"b\": 2}"}) {
        auto d = decode_legacy_line(line, LinePosition::first);
        REQUIRE(d.kind == Kind::error_reply);
        CHECK(d.error_code == "INVALID_JSON");
        CHECK(d.error_message.starts_with("All commands must be valid JSON: "));
        CHECK_FALSE(d.error_has_timestamp);
    }
    auto d = decode_legacy_line("", LinePosition::first);
    CHECK(d.error_message == "All commands must be valid JSON: Expecting value: line 1 column 1 (char 0)");
}

TEST_CASE("malformed first line: valid JSON but not an object -> close without reply") {
    for (std::string line : {"[1, 2]", "\"HEALTH_CHECK\"", "42", "null"})
        CHECK(decode_legacy_line(line, LinePosition::first).kind == Kind::close);
}

TEST_CASE("malformed first line: invalid UTF-8 -> close without reply") {
    CHECK(decode_legacy_line("{\"command\": \"\xff\"}", LinePosition::first).kind == Kind::close);
    CHECK(decode_legacy_line("\xc3", LinePosition::first).kind == Kind::close);
}

TEST_CASE("malformed first line: object failing lenient validation -> INVALID_COMMAND") {
    auto d = decode_legacy_line(R"({"version": "2.0"})", LinePosition::first);
    REQUIRE(d.kind == Kind::error_reply);
    CHECK(d.error_code == "INVALID_COMMAND");
    CHECK(d.error_message == "Missing required field: command");
    CHECK(d.error_has_timestamp);
    d = decode_legacy_line(R"({"command": "HEALTH_CHECK"})", LinePosition::first);
    CHECK(d.error_message == "Missing required field: version");
    d = decode_legacy_line(R"({"command": "SEND_MESSAGE", "version": "2.0"})", LinePosition::first);
    CHECK(d.error_code == "UNKNOWN_COMMAND");
    CHECK(d.error_message == "Command 'SEND_MESSAGE' not recognized");
    d = decode_legacy_line(R"({"command": null, "version": "2.0"})", LinePosition::first);
    CHECK(d.error_message == "Command 'None' not recognized");
    d = decode_legacy_line(R"({"command": "health_check", "version": "2.0"})", LinePosition::first);
    CHECK(d.error_code == "UNKNOWN_COMMAND"); // names are case-sensitive
}

TEST_CASE("the ksid text-probe extension: exactly HEALTH_CHECK on a first line") {
    CHECK(decode_legacy_line("HEALTH_CHECK", LinePosition::first).kind == Kind::text_health_probe);
    CHECK(decode_legacy_line("HEALTH_CHECK\r", LinePosition::first).kind == Kind::text_health_probe);
    CHECK(decode_legacy_line("HEALTH_CHECK:x", LinePosition::first).kind == Kind::error_reply);
    CHECK(decode_legacy_line("HEALTH_CHECK", LinePosition::follow_up).kind == Kind::error_reply);
}

TEST_CASE("persistence: AGENT_CONNECTION connect, decided on the raw JSON even when rejected") {
    auto d = decode_legacy_line(
        R"({"command": "AGENT_CONNECTION", "version": "2.0", "parameters": {"action": "connect", "agent_id": "A1"}})",
        LinePosition::first);
    CHECK(d.kind == Kind::request);
    CHECK(d.makes_persistent);
    d = decode_legacy_line(R"({"command": "AGENT_CONNECTION", "parameters": {"action": "connect"}})",
                           LinePosition::first);
    CHECK(d.kind == Kind::error_reply);
    CHECK(d.makes_persistent);
    d = decode_legacy_line(
        R"({"command": "AGENT_CONNECTION", "version": "2.0", "parameters": {"action": "disconnect"}})",
        LinePosition::first);
    CHECK_FALSE(d.makes_persistent);
    d = decode_legacy_line(
        R"({"command": "AGENT_CONNECTION", "version": "2.0", "parameters": {"action": "connect"}})",
        LinePosition::follow_up);
    CHECK_FALSE(d.makes_persistent);
}

TEST_CASE("follow-up lines on a persistent connection") {
    CHECK(decode_legacy_line("", LinePosition::follow_up).kind == Kind::ignore);
    CHECK(decode_legacy_line("   \r", LinePosition::follow_up).kind == Kind::ignore);
    auto d = decode_legacy_line("not json", LinePosition::follow_up);
    REQUIRE(d.kind == Kind::error_reply);
    CHECK(d.error_code == "INVALID_COMMAND");
    CHECK(d.error_message == "Invalid JSON: Expecting value: line 1 column 1 (char 0)");
    d = decode_legacy_line("[1]", LinePosition::follow_up);
    CHECK(d.error_code == "INVALID_COMMAND");
    CHECK(d.error_message == "Command must be a JSON object");
    CHECK(decode_legacy_line("\xff", LinePosition::follow_up).kind == Kind::close);
}

TEST_CASE("deep nesting: 1000 levels decode, deeper is INVALID_JSON") {
    std::string ok = "{\"command\": \"HEALTH_CHECK\", \"version\": \"2.0\", \"parameters\": {\"x\": " +
                     std::string(998, '[') + std::string(998, ']') + "}}";
    CHECK(decode_legacy_line(ok, LinePosition::first).kind == Kind::request);
    auto d = decode_legacy_line(std::string(100000, '['), LinePosition::first);
    REQUIRE(d.kind == Kind::error_reply);
    CHECK(d.error_code == "INVALID_JSON");
}

TEST_CASE("a number ksid cannot hold as sent is refused with INVALID_PARAMETER, not altered") {
    for (
        auto line :
        {R"({"command": "SET_SHARED", "version": "2.0", "parameters": {"key": "k", "value": 1e309}})",
         R"({"command": "PUBLISH", "version": "2.0", "parameters": {"n": 123456789012345678901234567890}})"}) {
        auto d = decode_legacy_line(line, LinePosition::first);
        REQUIRE(d.kind == Kind::error_reply);
        CHECK(d.error_code == "INVALID_PARAMETER");
        CHECK(d.error_message.find("cannot be kept as sent") != std::string::npos);
        CHECK(d.error_has_timestamp);
    }
    auto d =
        decode_legacy_line(R"({"command": "SET_SHARED", "version": "2.0", "parameters": {"value": "1e309"}})",
                           LinePosition::follow_up);
    CHECK(d.kind == Kind::request);
    d = decode_legacy_line(
        R"({"command": "AGENT_CONNECTION", "version": "2.0", "parameters": {"action": "connect", "x": -1e999}})",
        LinePosition::first);
    CHECK(d.kind == Kind::error_reply);
    CHECK(d.makes_persistent);
}
