#include "daemon/backends/turn_events_from_cli.hpp"
#include "protocol/stream_json.hpp"
#include "tests/unit/fixtures.hpp"

#include <doctest/doctest.h>

using namespace ksid::daemon;
using ksid::protocol::StreamEvent;
using ksid::protocol::StreamJsonParser;
namespace json = boost::json;

TEST_CASE("CLI stream-json → turn events: a recorded run with a tool") {
    StreamJsonParser parser;
    std::vector<StreamEvent> parsed;
    parser.feed(read_cli_fixture("stream-partial-tool-use.jsonl"), parsed);
    parser.finish(parsed);
    std::vector<TurnEvent> events;
    std::optional<json::object> result;
    for (const auto& e : parsed) {
        if (auto t = turn_event_from_cli(e))
            events.push_back(*t);
        else
            result = e.object;
    }
    REQUIRE_FALSE(events.empty());
    const auto* started = std::get_if<TurnStarted>(&events.front());
    REQUIRE(started);
    CHECK(started->session_id.has_value());
    CHECK_FALSE(started->model.empty());
    bool tool_use = false, tool_result = false;
    for (const auto& e : events) {
        if (const auto* u = std::get_if<ToolUse>(&e)) {
            tool_use = true;
            CHECK_FALSE(u->id.empty());
            CHECK_FALSE(u->name.empty());
            CHECK(u->input.is_object());
        }
        if (const auto* r = std::get_if<ToolResult>(&e)) {
            tool_result = true;
            CHECK(r->content == "tool-ran");
            CHECK_FALSE(r->is_error);
        }
    }
    CHECK(tool_use);
    CHECK(tool_result);
    REQUIRE(result);
    auto answer = answer_from_cli_result(*result);
    CHECK(answer.session_id == started->session_id);
    CHECK_FALSE(answer.is_error);
    CHECK(answer.usage.contains("output_tokens"));
    CHECK(answer.cost_usd > 0);
    CHECK(answer.cli_result == *result);
}

TEST_CASE("CLI result → answer: session precedence, fallbacks, errors") {
    auto a = answer_from_cli_result(json::object{{"sessionId", "legacy"},
                                                 {"session_id", "new"},
                                                 {"result", "x"},
                                                 {"is_error", true},
                                                 {"stop_reason", "max_tokens"}});
    CHECK(a.session_id == "legacy"); // the legacy daemon's precedence
    CHECK(a.is_error);
    CHECK(a.stop_reason == "max_tokens");
    auto b = answer_from_cli_result(json::object{{"session_id", "../etc"}}, std::string("fallback"));
    CHECK(b.session_id == "fallback"); // an invalid id never names a file
    CHECK(b.stop_reason == "end_turn");
    CHECK(b.text.empty());
    StreamEvent limit{StreamEvent::Kind::rate_limit};
    limit.object = json::object{{"status", "allowed_warning"}};
    auto notice = turn_event_from_cli(limit);
    REQUIRE(notice);
    CHECK(std::get<RateLimitNotice>(*notice).info.at("status") == "allowed_warning");
}
