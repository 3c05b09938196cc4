#include "protocol/stream_json.hpp"

#include "tests/unit/fixtures.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace ksid::protocol;
using Kind = StreamEvent::Kind;

namespace {
std::string fixture(const char* name) { return read_cli_fixture(name); }

std::vector<StreamEvent> parse_in_chunks(const std::string& text, std::size_t chunk) {
    StreamJsonParser parser;
    std::vector<StreamEvent> events;
    for (std::size_t i = 0; i < text.size(); i += chunk) parser.feed(std::string_view(text).substr(i, chunk), events);
    parser.finish(events);
    CHECK(parser.malformed_lines() == 0);
    return events;
}

std::string deltas(const std::vector<StreamEvent>& events) {
    std::string s;
    for (const auto& e : events)
        if (e.kind == Kind::text_delta) s += e.text;
    return s;
}
} // namespace

TEST_CASE("recorded partial stream: init, token deltas, the whole message, result - in any chunking") {
    const auto text = fixture("stream-partial.jsonl");
    for (std::size_t chunk : {1u, 7u, 64u, 4096u, 1u << 20}) {
        auto events = parse_in_chunks(text, chunk);
        REQUIRE(events.size() >= 3);
        CHECK(events.front().kind == Kind::init);
        CHECK(*events.front().session_id == "aacd5027-e59f-4466-9bdc-209287706dbe");
        CHECK(deltas(events) == "ECHO[1]: Stream this answer");
        CHECK(events.back().kind == Kind::result);
        CHECK(events.back().object.at("result").as_string() == "ECHO[1]: Stream this answer");
        for (const auto& e : events)
            if (e.kind == Kind::assistant_text) CHECK(e.already_streamed);
    }
}

TEST_CASE("recorded whole-message stream: text arrives as assistant messages") {
    auto events = parse_in_chunks(fixture("stream-whole.jsonl"), 100);
    CHECK(deltas(events).empty());
    bool saw_text = false;
    for (const auto& e : events)
        if (e.kind == Kind::assistant_text) {
            saw_text = true;
            CHECK_FALSE(e.already_streamed);
            CHECK(e.text == "ECHO[1]: Stream this answer");
        }
    CHECK(saw_text);
    CHECK(events.back().kind == Kind::result);
}

TEST_CASE("recorded tool-use stream: the tool call is reported, the final text streams") {
    auto events = parse_in_chunks(fixture("stream-partial-tool-use.jsonl"), 33);
    bool saw_tool = false;
    for (const auto& e : events)
        if (e.kind == Kind::tool_use) {
            saw_tool = true;
            CHECK(e.text == "Bash");
        }
    CHECK(saw_tool);
    CHECK(events.back().kind == Kind::result);
    CHECK_FALSE(deltas(events).empty());
}

TEST_CASE("unknown types, blank and malformed lines are skipped; a last line without newline counts") {
    StreamJsonParser parser;
    std::vector<StreamEvent> events;
    parser.feed("{\"type\":\"future_event\",\"x\":1}\n\n   \nnot json\n[1]\n", events);
    parser.feed("{\"type\":\"result\",\"result\":\"done\",\"session_id\":\"s-1\"}", events);
    CHECK(events.empty());
    parser.finish(events);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == Kind::result);
    CHECK(*events[0].session_id == "s-1");
    CHECK(parser.malformed_lines() == 2);
}

TEST_CASE("an over-long line is dropped, not buffered without bound") {
    StreamJsonParser parser(1024);
    std::vector<StreamEvent> events;
    parser.feed(std::string(4096, 'x'), events);
    CHECK(parser.overflowed());
    parser.feed("\n{\"type\":\"result\",\"result\":\"ok\"}\n", events);
    REQUIRE(events.size() == 1);
}

TEST_CASE("a session id that is not valid is not reported") {
    StreamJsonParser parser;
    std::vector<StreamEvent> events;
    parser.feed("{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"--evil\"}\n", events);
    REQUIRE(events.size() == 1);
    CHECK_FALSE(events[0].session_id);
}

TEST_CASE("a client tool round as Claude Code 2.1.330 streams it: the call, the MCP request, the message's end") {
    // Recorded (shortened) from a persistent process serving ksid's client tool server.
    const std::string text =
        R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":152,"output_tokens":1,"cache_read_input_tokens":0}}},"session_id":"s-1"})"
        "\n"
        R"({"type":"assistant","message":{"id":"msg_1","content":[{"type":"tool_use","id":"toolu_5b","name":"mcp__client__get_weather","input":{"city":"Paris"}}]},"session_id":"s-1"})"
        "\n"
        R"({"type":"control_request","request_id":"619a","request":{"subtype":"mcp_message","server_name":"client","message":{"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"},"_meta":{"claudecode/toolUseId":"toolu_5b"}},"jsonrpc":"2.0","id":2}}})"
        "\n"
        R"({"type":"stream_event","event":{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}},"session_id":"s-1"})"
        "\n";
    for (std::size_t chunk : {1u, 13u, 1u << 20}) {
        auto events = parse_in_chunks(text, chunk);
        REQUIRE(events.size() == 3);
        CHECK(events[0].kind == Kind::tool_use);
        CHECK(events[0].text == "mcp__client__get_weather");
        CHECK(events[1].kind == Kind::control_request);
        CHECK(events[1].object.at("request_id") == "619a");
        CHECK(events[2].kind == Kind::message_end);
        CHECK(events[2].text == "tool_use");
        CHECK(events[2].object.at("input_tokens") == 152); // message_start's
        CHECK(events[2].object.at("output_tokens") == 9);  // updated by message_delta's
    }
}
