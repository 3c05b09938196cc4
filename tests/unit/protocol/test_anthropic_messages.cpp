#include "protocol/anthropic_messages.hpp"
#include "protocol/sse_parser.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <doctest/doctest.h>

using namespace ksid::protocol;
namespace json = boost::json;

namespace {
MessagesRequest parse_ok(std::string_view body, MessagesEndpoint e = MessagesEndpoint::create) {
    auto r = parse_messages_request(body, std::nullopt, e);
    if (!r) FAIL_CHECK(r.error().message);
    REQUIRE(r.has_value());
    return *r;
}
OpenAIError parse_error(std::string_view body) {
    auto r = parse_messages_request(body, std::nullopt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
    return r.error();
}
std::vector<SseEvent> events_of(const std::string& bytes) {
    SseParser p;
    std::vector<SseEvent> out;
    p.feed(bytes, out);
    return out;
}
} // namespace

TEST_CASE("messages request: a valid request becomes the shared chat request") {
    auto r = parse_ok(R"({"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,
        "system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Really."}],
        "messages":[{"role":"user","content":"first"},{"role":"assistant","content":[{"type":"text","text":"ok"}]},
                    {"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},{"type":"text","text":"second"}]}],
        "temperature":0.2,"top_k":5,"stop_sequences":["END"],"tools":[{"name":"t","input_schema":{}}],
        "tool_choice":{"type":"auto"},"thinking":{"type":"enabled","budget_tokens":1024},
        "metadata":{"user_id":"u1","agent_id":"agent-1","priority":"2"},"service_tier":"auto"})");
    CHECK(r.chat.model == "claude-sonnet-4-5");
    CHECK(r.max_tokens == 1024);
    CHECK(r.chat.stream);
    CHECK(r.chat.agent_id == "agent-1");
    CHECK(r.chat.priority == 2);
    REQUIRE(r.chat.messages.size() == 4);
    CHECK(r.chat.messages[0].role == "system");
    CHECK(r.chat.messages[0].text == "You are terse.\n\nReally.");
    CHECK(r.chat.messages[3].text == "<system-reminder>x</system-reminder>\nsecond");
    const auto rendered = render_chat_prompt(r.chat);
    CHECK(rendered.system_prompt == "You are terse.\n\nReally.");
    CHECK(rendered.prompt ==
          "User: first\n\nAssistant: ok\n\nUser: <system-reminder>x</system-reminder>\nsecond");
}

TEST_CASE("messages request: a system message among the messages (Claude Code sends one last) adds to the "
          "system prompt") {
    auto r =
        parse_ok(R"({"model":"m","max_tokens":1,"system":"top","messages":[{"role":"user","content":"hi"},
        {"role":"system","content":[{"type":"text","text":"# Environment"},{"type":"text","text":"more"}]}]})");
    const auto rendered = render_chat_prompt(r.chat);
    CHECK(rendered.system_prompt == "top\n\n# Environment\n\nmore");
    CHECK(rendered.prompt == "hi");
    CHECK(parse_messages_request(
              R"({"model":"m","max_tokens":1,"messages":[{"role":"system","content":[{"type":"image"}]}]})",
              std::nullopt)
              .error()
              .param == "messages.0.content.0.type");
}

TEST_CASE("messages request: sessions from metadata, the top level or the header") {
    CHECK(parse_ok(
              R"({"model":"m","max_tokens":1,"session_id":"s-1","messages":[{"role":"user","content":"x"}]})")
              .chat.session_id == "s-1");
    auto r =
        parse_messages_request(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]})",
                               std::string_view("s-2"));
    REQUIRE(r.has_value());
    CHECK(r->chat.session_id == "s-2");
    auto bad =
        parse_messages_request(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]})",
                               std::string_view("../etc"));
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().param == "X-Session-Id");
}

TEST_CASE("messages request: tool history is rendered, thinking skipped") {
    auto r = parse_ok(R"({"model":"m","max_tokens":1,"messages":[
        {"role":"user","content":"list files"},
        {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Let me look."},
                                       {"type":"tool_use","id":"toolu_1","name":"ls","input":{"dir":"."}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a.txt"}]},
                                  {"type":"text","text":"and now?"}]}]})");
    const auto rendered = render_chat_prompt(r.chat);
    CHECK(rendered.prompt ==
          "User: list files\n\nAssistant: Let me look.\n(called tool ls as call toolu_1 with {\"dir\":\".\"})\n\n"
          "Tool result for call toolu_1: a.txt\n\nUser: and now?");
    REQUIRE(r.chat.messages.size() == 4);
    CHECK(r.chat.messages[1].tool_calls.size() == 1);
    CHECK(r.chat.messages[2].tool_call_id == "toolu_1");
    // The text beside the result goes with it to the process that awaits it.
    const auto results = trailing_tool_results(r.chat);
    REQUIRE(results.size() == 1);
    CHECK(results[0].content == "a.txt\n\nand now?");
    CHECK(message_before_tool_results(r.chat) == &r.chat.messages[1]);
}

TEST_CASE("messages request: client tools, tool_choice and results that end the conversation") {
    auto r = parse_ok(R"({"model":"m","max_tokens":1,
        "tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
        "messages":[{"role":"user","content":"weather?"},
        {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
                                       {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Rome"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},
                                  {"type":"tool_result","tool_use_id":"toolu_2","content":"rain","is_error":true}]}]})");
    REQUIRE(r.chat.tools.size() == 1);
    CHECK(r.chat.tools[0].name == "get_weather");
    CHECK(r.chat.tools[0].input_schema.contains("properties"));
    const auto results = trailing_tool_results(r.chat);
    REQUIRE(results.size() == 2);
    CHECK(results[0].tool_use_id == "toolu_1");
    CHECK(results[0].content == "sunny");
    CHECK_FALSE(results[0].is_error);
    CHECK(results[1].is_error);

    auto none = parse_ok(R"({"model":"m","max_tokens":1,"tool_choice":{"type":"none"},
        "tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]})");
    CHECK(none.chat.tools.empty()); // honoured: not offered

    for (const char* body : {
             R"({"model":"m","max_tokens":1,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]})",
             R"({"model":"m","max_tokens":1,"tool_choice":{"type":"tool","name":"t"},"messages":[{"role":"user","content":"x"}]})",
             R"({"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]})",
             R"({"model":"m","max_tokens":1,"tools":[{"name":"bad name","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]})",
             R"({"model":"m","max_tokens":1,"tools":[{"name":"t","input_schema":{"type":"string"}}],"messages":[{"role":"user","content":"x"}]})",
             R"({"model":"m","max_tokens":1,"tools":[{"name":"t"},{"name":"t"}],"messages":[{"role":"user","content":"x"}]})",
             R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]})",
         }) {
        auto bad = parse_messages_request(body, std::nullopt);
        CHECK_MESSAGE(!bad.has_value(), body);
        if (!bad) CHECK_MESSAGE(bad.error().status == 400, body);
    }
}

TEST_CASE("messages request: each bad input is a 400 naming the field") {
    struct Case {
        const char* body;
        const char* param;
    };
    const Case cases[] = {
        {R"({"max_tokens":1,"messages":[{"role":"user","content":"x"}]})", "model"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "max_tokens"},
        {R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})", "max_tokens"},
        {R"({"model":"m","max_tokens":"9","messages":[{"role":"user","content":"x"}]})", "max_tokens"},
        {R"({"model":"m","max_tokens":1,"messages":[]})", "messages"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]})", "messages.0.role"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"p"},
            {"role":"system","content":"s"}]})",
         "messages.1.role"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user"}]})", "messages.0.content"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]})",
         "messages.0.content.0.source"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]}]})",
         "messages.0.content.0.source"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"not base64!"}}]}]})",
         "messages.0.content.0.source"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"file:///etc/passwd"}}]}]})",
         "messages.0.content.0.source"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]},{"role":"user","content":"x"}]})",
         "messages.0.content.0.type"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text"}]}]})",
         "messages.0.content.0.text"},
        {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"pre"}]})",
         "messages.1.role"},
        {R"({"model":"m","max_tokens":1,"stream":"yes","messages":[{"role":"user","content":"x"}]})",
         "stream"},
        {R"({"model":"m","max_tokens":1,"temperature":"hot","messages":[{"role":"user","content":"x"}]})",
         "temperature"},
        {R"({"model":"m","max_tokens":1,"stop_sequences":[1],"messages":[{"role":"user","content":"x"}]})",
         "stop_sequences.0"},
        {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]})",
         "tool_choice.type"},
        {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"tool","name":"t"},"messages":[{"role":"user","content":"x"}]})",
         "tool_choice.type"},
        {R"({"model":"m","max_tokens":1,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]})",
         "system.0.type"},
        {R"({"model":"m","max_tokens":1,"metadata":{"user_id":5},"messages":[{"role":"user","content":"x"}]})",
         "metadata.user_id"},
        {R"({"model":"m","max_tokens":1,"metadata":{"priority":12},"messages":[{"role":"user","content":"x"}]})",
         "metadata.priority"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.body);
        CHECK(parse_error(c.body).param == c.param);
    }
    CHECK_FALSE(parse_error("{").param.has_value());
    CHECK_FALSE(parse_error("[1]").param.has_value());
}

TEST_CASE("count_tokens: no max_tokens needed, a final assistant message allowed, an estimate") {
    auto r = parse_ok(R"({"model":"m","system":"12345678","messages":[{"role":"user","content":"abcd"},
                          {"role":"assistant","content":"ef"}]})",
                      MessagesEndpoint::count_tokens);
    CHECK(r.text_bytes == 14);
    CHECK(estimate_input_tokens(r) == 4);
    CHECK(estimate_input_tokens(MessagesRequest{}) == 1);
}

TEST_CASE("Anthropic errors: types by status, 503 answered as 529, the field in the message") {
    CHECK(anthropic_error_type(400) == "invalid_request_error");
    CHECK(anthropic_error_type(401) == "authentication_error");
    CHECK(anthropic_error_type(403) == "permission_error");
    CHECK(anthropic_error_type(404) == "not_found_error");
    CHECK(anthropic_error_type(405) == "invalid_request_error");
    CHECK(anthropic_error_type(413) == "request_too_large");
    CHECK(anthropic_error_type(429) == "rate_limit_error");
    CHECK(anthropic_error_type(500) == "api_error");
    CHECK(anthropic_error_type(502) == "api_error");
    CHECK(anthropic_error_type(504) == "timeout_error");
    CHECK(anthropic_error_type(529) == "overloaded_error");
    CHECK(anthropic_status(503) == 529);
    CHECK(anthropic_status(502) == 502);
    const auto body =
        anthropic_error_body({400, "invalid_request_error", "Field required", "max_tokens", {}});
    CHECK(
        json::serialize(body) ==
        R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})");
    CHECK(anthropic_error_body({503, "service_unavailable_error", "down", {}, {}}).at("error").at("type") ==
          "overloaded_error");
}

TEST_CASE("message body: content, stop reason, usage from the CLI's") {
    const auto usage =
        json::parse(R"({"input_tokens":3,"cache_creation_input_tokens":5,"cache_read_input_tokens":7,
                                       "output_tokens":11,"service_tier":"standard"})");
    const auto body = message_body("msg_1", "sonnet", "Hi", "tool_use", usage, std::string_view("s-1"));
    CHECK(
        json::serialize(body) ==
        R"({"id":"msg_1","type":"message","role":"assistant","model":"sonnet","content":[{"type":"text","text":"Hi"}],)"
        R"("stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":5,)"
        R"("cache_read_input_tokens":7,"output_tokens":11},"session_id":"s-1"})");
    CHECK(message_body("m", "x", "", "max_tokens", nullptr, std::nullopt).at("content").as_array().empty());
    CHECK(anthropic_stop_reason("max_tokens") == "max_tokens");
    CHECK(anthropic_stop_reason("stop_sequence") == "stop_sequence");
    CHECK(anthropic_stop_reason("") == "end_turn");
}

TEST_CASE("stream encoder: one message, blocks renumbered across CLI messages") {
    MessageStreamEncoder enc("msg_1", "sonnet", std::string("s-1"));
    std::string out = enc.start();
    out += enc.text("Let me ");
    out += enc.text("check.");
    out += enc.end_block(); // the CLI's first API message ended (a tool ran)
    out += enc.end_block(); // nothing open: nothing sent
    out += MessageStreamEncoder::ping();
    out += enc.text("Done.");
    out += enc.finish("Done.", "end_turn", json::parse(R"({"input_tokens":2,"output_tokens":4})"));
    const auto ev = events_of(out);
    std::vector<std::string> names;
    for (const auto& e : ev)
        names.push_back(e.event);
    CHECK(names == std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                            "content_block_delta", "content_block_stop", "ping",
                                            "content_block_start", "content_block_delta",
                                            "content_block_stop", "message_delta", "message_stop"});
    const auto start = json::parse(ev[0].data);
    CHECK(start.at("message").at("id") == "msg_1");
    CHECK(start.at("message").at("stop_reason").is_null());
    CHECK(start.at("message").at("session_id") == "s-1");
    CHECK(json::parse(ev[6].data).at("index") == 1);
    CHECK(json::parse(ev[7].data).at("delta").at("text") == "Done.");
    const auto delta = json::parse(ev[9].data);
    CHECK(delta.at("delta").at("stop_reason") == "end_turn");
    CHECK(delta.at("usage").at("output_tokens") == 4);
    CHECK(delta.at("usage").at("input_tokens") == 2);
    CHECK(enc.blocks() == 2);
}

TEST_CASE("stream encoder: an answer that was not streamed is sent as one block at the end") {
    MessageStreamEncoder enc("msg_1", "sonnet", std::nullopt);
    std::string out = enc.start() + enc.finish("whole answer", "end_turn", nullptr);
    const auto ev = events_of(out);
    REQUIRE(ev.size() == 6);
    CHECK(ev[1].event == "content_block_start");
    CHECK(json::parse(ev[2].data).at("delta").at("text") == "whole answer");
    CHECK_FALSE(json::parse(ev[0].data).at("message").as_object().contains("session_id"));
    CHECK_FALSE(json::parse(ev[4].data).as_object().contains("ksid_result"));
    MessageStreamEncoder to_ksid("msg_2", "sonnet", std::nullopt);
    const json::object result{{"type", "result"}, {"total_cost_usd", 0.5}};
    const auto delta = events_of(to_ksid.start() + to_ksid.finish("x", "end_turn", nullptr, &result));
    CHECK(json::parse(delta[4].data).at("ksid_result").at("total_cost_usd") == 0.5); // another ksid's shim
    const auto err = events_of(MessageStreamEncoder::error({504, "timeout_error", "too slow", {}, {}}));
    REQUIRE(err.size() == 1);
    CHECK(err[0].event == "error");
    CHECK(json::parse(err[0].data).at("error").at("type") == "timeout_error");
}

TEST_CASE("Anthropic model list") {
    const auto list = anthropic_model_list_body({"sonnet", "claude-opus-4-1"}, "2026-12-01T00:00:00Z");
    CHECK(
        json::serialize(list) ==
        R"({"data":[{"type":"model","id":"sonnet","display_name":"Claude Sonnet","created_at":"2026-12-01T00:00:00Z"},)"
        R"({"type":"model","id":"claude-opus-4-1","display_name":"claude-opus-4-1","created_at":"2026-12-01T00:00:00Z"}],)"
        R"("has_more":false,"first_id":"sonnet","last_id":"claude-opus-4-1"})");
    CHECK(anthropic_model_list_body({}, "t").at("first_id").is_null());
}

TEST_CASE("messages request: images go with their user message, in order") {
    auto r = parse_ok(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[
        {"type":"text","text":"what is this?"},
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
        {"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}]}]})");
    const auto rendered = render_chat_prompt(r.chat);
    CHECK(rendered.prompt == "what is this?");
    REQUIRE(rendered.images.size() == 2);
    CHECK(rendered.images[0].media_type == "image/png");
    CHECK(rendered.images[0].data == "iVBORw0KGgo=");
    CHECK(rendered.images[0].bytes == 8);
    CHECK(rendered.images[1].url == "https://example.com/cat.png");
}

TEST_CASE("messages request: a tool result's images go with the result") {
    auto r = parse_ok(R"({"model":"m","max_tokens":1,"tools":[{"name":"shot","input_schema":{"type":"object"}}],"messages":[
        {"role":"user","content":"take one"},
        {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"shot","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"done"},
            {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}]})");
    const auto results = trailing_tool_results(r.chat);
    REQUIRE(results.size() == 1);
    CHECK(results[0].content == "done");
    REQUIRE(results[0].images.size() == 1);
    CHECK(results[0].images[0].data == "iVBORw0KGgo=");
    CHECK(render_chat_prompt(r.chat).images.size() == 1); // a replayed transcript carries it too
    auto url = parse_messages_request(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[
        {"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}]})",
                                      std::nullopt);
    CHECK_FALSE(url.has_value());
}
