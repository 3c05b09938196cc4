// The API shim's Anthropic Messages format (protocol/anthropic_upstream): the request, a message → the CLI
// result, SSE → stream events in any chunking, errors, unfinished streams, ignored block types; and the
// dispatch by provider (protocol/upstream_format).
#include "protocol/anthropic_upstream.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/upstream_format.hpp"
#include "protocol/upstream_retry.hpp"

#include "tests/unit/json_object.hpp"
#include "tests/unit/protocol/hello_stream.hpp"

#include <boost/json.hpp>

#include <doctest/doctest.h>

#include <algorithm>

using namespace ksid::protocol;
namespace json = boost::json;

namespace {

// One SSE event; the JSON is written on several lines here, sent on one.
std::string sse(std::string_view name, std::string_view data) {
    std::string line(data);
    std::replace(line.begin(), line.end(), '\n', ' ');
    return "event: " + std::string(name) + "\ndata: " + line + "\n\n";
}

constexpr const char* session = "0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11";

// A streamed message as api.anthropic.com sends it, with a thinking block before the text.
const std::string stream =
    sse("message_start",
        R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",
        "content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":3,
        "cache_read_input_tokens":4,"output_tokens":1}}})") +
    sse("content_block_start",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})") +
    sse("content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}})") +
    sse("content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}})") +
    sse("content_block_stop", R"({"type":"content_block_stop","index":0})") +
    sse("ping", R"({"type":"ping"})") +
    sse("content_block_start",
        R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})") +
    sse("content_block_delta",
        R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hel"}})") +
    ": a comment\r\n\r\n" +
    sse("content_block_delta",
        R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"lo"}})") +
    sse("content_block_stop", R"({"type":"content_block_stop","index":1})") +
    sse("content_block_start", R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use",
        "id":"t","name":"Bash","input":{}}})") +
    sse("content_block_delta",
        R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}})") +
    sse("content_block_stop", R"({"type":"content_block_stop","index":2})") +
    sse("message_delta",
        R"({"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":9}})") +
    sse("message_stop", R"({"type":"message_stop"})");

} // namespace

TEST_CASE("anthropic: the target path does not double /v1") {
    CHECK(anthropic_target("") == "/v1/messages");
    CHECK(anthropic_target("/v1") == "/v1/messages");
    CHECK(anthropic_target("/proxy") == "/proxy/v1/messages");
    CHECK(anthropic_target("/proxy/v1") == "/proxy/v1/messages");
    CHECK(anthropic_target("/xv1") == "/xv1/v1/messages");
}

TEST_CASE("anthropic: the request body and headers") {
    UpstreamTurn t;
    t.model = "claude-sonnet-4";
    t.prompt = "hi \"there\"";
    t.system_prompt = "be brief";
    t.session_id = session;
    t.agent_id = "agent-1";
    t.enable_tools = false;
    t.priority = 3;
    t.stream = true;
    t.max_tokens = 1234;
    auto o = json_object_of(anthropic_request_body(t));
    CHECK(o.at("model") == "claude-sonnet-4");
    CHECK(o.at("max_tokens") == 1234);
    CHECK(o.at("system") == "be brief");
    CHECK(o.at("stream") == true);
    CHECK(o.at("session_id") == session);
    const auto& messages = o.at("messages").as_array();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].at("role") == "user");
    CHECK(messages[0].at("content") == json::array{json::object{{"type", "text"}, {"text", "hi \"there\""}}});
    const auto& m = o.at("metadata").as_object();
    CHECK(m.at("user_id") == "agent-1");
    CHECK(m.at("agent_id") == "agent-1");
    CHECK(m.at("session_id") == session);
    CHECK(m.at("enable_tools") == "false");
    CHECK(m.at("priority") == "3");
    CHECK_FALSE(o.contains("stream_options"));

    // Without the KSI extensions only what Anthropic accepts: metadata.user_id, nothing at the top.
    t.send_metadata = false;
    t.system_prompt = "";
    t.stream = false;
    o = json_object_of(anthropic_request_body(t));
    CHECK_FALSE(o.contains("system"));
    CHECK_FALSE(o.contains("session_id"));
    CHECK(o.at("stream") == false);
    CHECK(o.at("metadata") == json::object{{"user_id", "agent-1"}});
    t.agent_id.reset();
    CHECK_FALSE(json_object_of(anthropic_request_body(t)).contains("metadata"));

    auto h = anthropic_headers("sk-test");
    REQUIRE(h.size() == 2);
    CHECK(h[0] == std::pair<std::string, std::string>{"x-api-key", "sk-test"});
    CHECK(h[1] == std::pair<std::string, std::string>{"anthropic-version", "2023-06-01"});
    CHECK(anthropic_headers("").size() == 1);
}

TEST_CASE("the provider picks the target, headers and body") {
    UpstreamTurn t;
    t.model = "m";
    t.prompt = "p";
    auto a = upstream_request(UpstreamProvider::anthropic, "/v1", t, "k");
    CHECK(a.target == "/v1/messages");
    CHECK(json_object_of(a.body).contains("max_tokens"));
    CHECK(a.headers.front().first == "x-api-key");
    auto o = upstream_request(UpstreamProvider::openai, "/v1", t, "k");
    CHECK(o.target == "/v1/chat/completions");
    CHECK_FALSE(json_object_of(o.body).contains("max_tokens"));
    CHECK(o.headers == std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer k"}});
    CHECK(upstream_request(UpstreamProvider::openai, "/v1", t, "").headers.empty());
    CHECK(parse_upstream_provider("anthropic") == UpstreamProvider::anthropic);
    CHECK_FALSE(parse_upstream_provider("Anthropic").has_value());
}

TEST_CASE("anthropic: a message becomes the CLI's result object plus the plan's fields") {
    const ShimFields f{"sonnet", "2026-11-24T04:00:00.000000", std::string("a1")};
    auto r = cli_result_from_message(
        R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[
            {"type":"thinking","thinking":"secret","signature":"s"},{"type":"text","text":"Hel"},
            {"type":"tool_use","id":"t","name":"Bash","input":{}},{"type":"text","text":"lo"}],
            "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":4,
            "service_tier":"standard"}})",
        session, f, 12);
    REQUIRE(r.has_value());
    CHECK(r->at("type") == "result");
    CHECK(r->at("subtype") == "success");
    CHECK(r->at("is_error") == false);
    CHECK(r->at("result") == "Hello");
    CHECK(r->at("stop_reason") == "tool_use");
    CHECK(r->at("session_id") == session);
    CHECK(r->at("sessionId") == session);
    CHECK(r->at("usage").at("input_tokens") == 10);
    CHECK(r->at("usage").at("output_tokens") == 3);
    CHECK(r->at("usage").at("cache_read_input_tokens") == 4);
    CHECK(r->at("usage").at("cache_creation_input_tokens") == 0);
    CHECK(r->at("usage").at("service_tier") == "standard"); // the rest as the message has it
    CHECK(r->at("model") == "sonnet");
    CHECK(r->at("agent_id") == "a1");
    CHECK(r->at("timestamp") == "2026-11-24T04:00:00.000000");
    CHECK(r->at("duration_ms") == 12);
    CHECK(r->at("num_turns") == 1);

    // No session from a stateless upstream; hostile counts are clamped; no stop_reason is end_turn.
    r = cli_result_from_message(
        R"({"type":"message","content":[],"usage":{"input_tokens":-4,"output_tokens":1e300}})",
        std::string("../x"), f, 1);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->contains("session_id"));
    CHECK(r->at("sessionId").is_null());
    CHECK(r->at("result") == "");
    CHECK(r->at("stop_reason") == "end_turn");
    CHECK(r->at("usage").at("input_tokens") == 0);
    CHECK(r->at("usage").at("output_tokens") == 1'000'000'000'000'000);

    // A ksid upstream's own claude result is used as it is.
    r = cli_result_from_message(
        std::string(
            R"({"type":"message","content":[],"ksid_result":{"type":"result","result":"exact","session_id":")") +
            session + R"("}})",
        std::nullopt, ShimFields{"opus", "t", std::nullopt}, 1);
    REQUIRE(r.has_value());
    CHECK(r->at("result") == "exact");
    CHECK(r->at("sessionId") == session);

    CHECK_FALSE(cli_result_from_message("not json", std::nullopt, f, 1).has_value());
    CHECK_FALSE(cli_result_from_message("[]", std::nullopt, f, 1).has_value());
    CHECK_FALSE(cli_result_from_message(R"({"type":"error","error":{}})", std::nullopt, f, 1).has_value());
    CHECK_FALSE(
        cli_result_from_message(R"({"type":"message","content":"x"})", std::nullopt, f, 1).has_value());
    // The dispatch reads a message for anthropic and a completion for openai.
    CHECK(cli_result_from_upstream(UpstreamProvider::anthropic, R"({"type":"message","content":[]})",
                                   std::nullopt, f, 1)
              .has_value());
    CHECK_FALSE(cli_result_from_upstream(UpstreamProvider::openai, R"({"type":"message","content":[]})",
                                         std::nullopt, f, 1)
                    .has_value());
}

TEST_CASE("anthropic: SSE in any chunking becomes init, text deltas and the result; thinking is ignored") {
    for (std::size_t step : {1u, 2u, 7u, 64u, 100000u}) {
        auto t = upstream_stream_translator(UpstreamProvider::anthropic, session,
                                            ShimFields{"sonnet", "t", {}}, 1 << 20);
        auto last = check_hello_stream(*t, stream, step, session);
        CHECK(last.at("stop_reason") == "max_tokens");
        CHECK(last.at("usage").at("input_tokens") == 12);
        CHECK(last.at("usage").at("cache_read_input_tokens") == 4);
        CHECK(last.at("usage").at("output_tokens") == 9); // message_delta's count replaces message_start's
        CHECK(last.at("sessionId") == session);
    }
}

TEST_CASE("anthropic: error events, unfinished and invalid streams") {
    const ShimFields f{"sonnet", "t", std::nullopt};
    std::vector<StreamEvent> events;
    // An error event mid-stream: an is_error result with the upstream's message; later events are ignored.
    AnthropicStreamTranslator err(std::nullopt, f, 1 << 20);
    err.feed(stream.substr(0, stream.find("event: content_block_stop")), events);
    err.feed(sse("error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"),
             events);
    err.feed(sse("content_block_delta",
                 R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"late"}})") +
                 sse("message_stop", R"({"type":"message_stop"})"),
             events);
    auto e = err.finish(1);
    REQUIRE(e.has_value());
    CHECK(e->at("is_error") == true);
    CHECK(e->at("subtype") == "error_during_execution");
    CHECK(e->at("result") == "the upstream reported an error: Overloaded");
    for (const auto& ev : events)
        CHECK(ev.text != "late");

    // Cut off before message_stop (even after message_delta): an error, not a result.
    AnthropicStreamTranslator cut(std::nullopt, f, 1 << 20);
    cut.feed(stream.substr(0, stream.find("event: message_stop")), events);
    auto c = cut.finish(1);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error() == "the upstream ended the stream before it finished");
    AnthropicStreamTranslator nothing(std::nullopt, f, 1 << 20);
    CHECK_FALSE(nothing.finish(1).has_value());

    // Data that is not JSON: an is_error result.
    AnthropicStreamTranslator bad(std::nullopt, f, 1 << 20);
    bad.feed("event: message_start\ndata: {nope\n\n", events);
    auto b = bad.finish(1);
    REQUIRE(b.has_value());
    CHECK(b->at("is_error") == true);

    // An event over the bound: an error.
    AnthropicStreamTranslator big(std::nullopt, f, 256);
    big.feed(
        sse("content_block_delta", R"({"type":"content_block_delta","delta":{"type":"text_delta","text":")" +
                                       std::string(1000, 'x') + "\"}}"),
        events);
    CHECK_FALSE(big.finish(1).has_value());

    // Anthropic's error body reads like OpenAI's.
    CHECK(
        upstream_error_message(
            R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}})") ==
        "max_tokens: required");
}

TEST_CASE("anthropic: 529 overloaded_error is retried like 429 and 503") {
    const RetryPolicy policy{3, 0.5, 30};
    const auto now = std::chrono::system_clock::now();
    UpstreamAttempt overloaded{false, 529, false, "", ""};
    CHECK(upstream_retry_delay(policy, overloaded, 0, 1.0, now, std::chrono::milliseconds(60'000)) ==
          std::chrono::milliseconds(500));
    overloaded.retry_after = "3";
    CHECK(upstream_retry_delay(policy, overloaded, 0, 1.0, now, std::chrono::milliseconds(60'000)) ==
          std::chrono::milliseconds(3000));
    CHECK_FALSE(upstream_retry_delay(policy, overloaded, 3, 1.0, now, std::chrono::milliseconds(60'000)));
    overloaded.body_started = true;
    CHECK_FALSE(upstream_retry_delay(policy, overloaded, 0, 1.0, now, std::chrono::milliseconds(60'000)));
}
