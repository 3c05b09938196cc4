#include "protocol/openai_chat.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace ksid::protocol;
namespace json = boost::json;

namespace {
ChatRequest parsed(std::string_view body, std::optional<std::string_view> header = std::nullopt) {
    auto r = parse_chat_request(body, header);
    REQUIRE(r.has_value());
    return *r;
}
OpenAIError refused(std::string_view body) {
    auto r = parse_chat_request(body, std::nullopt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
    CHECK(r.error().type == "invalid_request_error");
    return r.error();
}
} // namespace

TEST_CASE("openai_chat: a request's fields") {
    auto r = parsed(R"({"model":"sonnet","stream":true,"stream_options":{"include_usage":true},
        "messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],
        "metadata":{"session_id":"s-1","enable_tools":"true","agent_id":"a1","priority":"2"},
        "temperature":0.3,"n":1,"tool_choice":"auto","unknown":{}})");
    CHECK(r.model == "sonnet");
    CHECK(r.stream);
    CHECK(r.include_usage);
    REQUIRE(r.messages.size() == 2);
    CHECK(r.messages[1].text == "hi");
    CHECK(r.session_id == "s-1");
    CHECK(r.enable_tools == true);
    CHECK(r.agent_id == "a1");
    CHECK(r.priority == 2);
    // The session id: metadata, then top level, then the header.
    CHECK(parsed(R"({"model":"m","messages":[{"role":"user","content":"x"}],"session_id":"top"})", "hdr")
              .session_id == "top");
    CHECK(parsed(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "hdr").session_id == "hdr");
}

TEST_CASE("openai_chat: what is refused, with its param") {
    CHECK(refused("not json").param == std::nullopt);
    CHECK(refused("[]").param == std::nullopt);
    CHECK(refused(R"({"messages":[{"role":"user","content":"x"}]})").param == "model");
    CHECK(refused(R"({"model":"m","messages":[]})").param == "messages");
    CHECK(refused(R"({"model":"m","messages":[{"role":"robot","content":"x"}]})").param ==
          "messages[0].role");
    CHECK(
        refused(
            R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]})")
            .param == "messages[1].role");
    CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})").param == "n");
    CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"})")
              .param == "tool_choice");
    CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})").param ==
          "stream");
    CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"metadata":{"priority":10}})")
              .param == "metadata.priority");
    CHECK(refused(
              R"({"model":"m","messages":[{"role":"user","content":"x"}],"metadata":{"session_id":"../x"}})")
              .param == "metadata.session_id");
    CHECK(
        refused(
            R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})")
            .param.value_or("")
            .starts_with("messages[0].content"));
    auto deep = std::string(100, '[') + std::string(100, ']');
    refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"x":)" + deep + "}");
}

TEST_CASE("openai_chat: the prompt a request becomes") {
    auto one = render_chat_prompt(parsed(R"({"model":"m","messages":[{"role":"developer","content":"d"},
        {"role":"system","content":"s"},{"role":"user","content":"hello"}]})"));
    CHECK(one.prompt == "hello");
    CHECK(one.system_prompt == "d\n\ns");
    auto transcript = render_chat_prompt(parsed(R"({"model":"m","messages":[{"role":"user","content":"a"},
        {"role":"assistant","content":"b"},{"role":"user","content":"c"}]})"));
    CHECK(transcript.prompt == "User: a\n\nAssistant: b\n\nUser: c");
    auto resumed =
        render_chat_prompt(parsed(R"({"model":"m","session_id":"s","messages":[{"role":"user","content":"a"},
        {"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"user","content":"d"}]})"));
    CHECK(resumed.prompt == "c\n\nd"); // the session holds the rest
}

TEST_CASE("openai_chat: response, chunk, usage and error bodies") {
    const json::value usage = json::object{{"input_tokens", 3},
                                           {"cache_creation_input_tokens", 1},
                                           {"cache_read_input_tokens", 2},
                                           {"output_tokens", 7}};
    auto u = openai_usage(usage);
    CHECK(u.at("prompt_tokens") == 6);
    CHECK(u.at("completion_tokens") == 7);
    CHECK(u.at("total_tokens") == 13);
    CHECK(u.at("prompt_tokens_details").at("cached_tokens") == 2);
    CHECK(openai_usage(nullptr).at("total_tokens") == 0);
    CHECK(finish_reason_for("max_tokens") == "length");
    CHECK(finish_reason_for("end_turn") == "stop");
    auto body = chat_completion_body("s-1", 100, "sonnet", "hi", "stop", usage);
    CHECK(body.at("object") == "chat.completion");
    CHECK(body.at("choices").at(0).at("message").at("content") == "hi");
    CHECK(body.at("session_id") == "s-1");
    auto chunk = chat_chunk_body("s-1", 100, "sonnet", json::object{{"content", "x"}}, std::nullopt);
    CHECK(chunk.at("choices").at(0).at("finish_reason").is_null());
    CHECK(sse_event(json::object{{"a", 1}}) == "data: {\"a\":1}\n\n");
    auto err = openai_error_body({429, "rate_limit_error", "slow down", std::nullopt, std::string("c")});
    CHECK(err.at("error").at("type") == "rate_limit_error");
    CHECK(err.at("error").at("param").is_null());
    CHECK(err.at("error").at("code") == "c");
    auto models = model_list_body({"sonnet", "opus"}, 5);
    CHECK(models.at("data").as_array().size() == 2);
}

TEST_CASE("openai_chat: client tools, the tool loop's messages, tool_choice") {
    auto r = parsed(R"({"model":"m",
        "tools":[{"type":"function","function":{"name":"get_weather","description":"d",
                  "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
                 {"type":"function","function":{"name":"now"}}],
        "messages":[{"role":"user","content":"weather?"},
          {"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_2","type":"function","function":{"name":"now","arguments":"not json"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"sunny"},
          {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"noon"}]}]})");
    REQUIRE(r.tools.size() == 2);
    CHECK(r.tools[1].input_schema == json::object{{"type", "object"}, {"properties", json::object()}});
    REQUIRE(r.messages[1].tool_calls.size() == 2);
    CHECK(r.messages[1].tool_calls[0].input == json::object{{"city", "Paris"}});
    CHECK(r.messages[1].tool_calls[1].input == json::value("not json"));
    const auto results = trailing_tool_results(r);
    REQUIRE(results.size() == 2);
    CHECK(results[0].tool_use_id == "call_1");
    CHECK(results[1].content == "noon");
    // Replayed as text when the process that awaited the results is gone.
    CHECK(render_chat_prompt(r).prompt ==
          "User: weather?\n\nAssistant: (called tool get_weather as call call_1 with {\"city\":\"Paris\"})\n"
          "(called tool now as call call_2 with \"not json\")\n\nTool result for call call_1: sunny\n\n"
          "Tool result for call call_2: noon");

    CHECK(parsed(R"({"model":"m","tool_choice":"none","tools":[{"type":"function","function":{"name":"t"}}],
                     "messages":[{"role":"user","content":"x"}]})")
              .tools.empty());
    CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                      "tool_choice":{"type":"function","function":{"name":"t"}}})")
              .message.find("cannot be honoured") != std::string::npos);
    CHECK(refused(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})").param == "messages[0].tool_call_id");
    CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"retrieval"}]})")
              .param == "tools[0].type");
    CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                      "tools":[{"type":"function","function":{"name":"a.b"}}]})")
              .param == "tools[0].function.name");
    CHECK(refused(R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c"}]},
                      {"role":"user","content":"x"}]})")
              .param == "messages[0].tool_calls[0].function");
}

TEST_CASE("openai_chat: tool calls in a completion and a chunk") {
    const std::vector<ClientToolCall> calls{{"toolu_1", "get_weather", json::object{{"city", "Paris"}}}};
    auto body = chat_completion_body("id", 1, "m", "", "stop", json::object(), calls);
    const auto& choice = body.at("choices").as_array()[0].as_object();
    CHECK(choice.at("finish_reason") == "tool_calls");
    const auto& message = choice.at("message").as_object();
    CHECK(message.at("content").is_null());
    const auto& call = message.at("tool_calls").as_array()[0].as_object();
    CHECK(call.at("id") == "toolu_1");
    CHECK(call.at("type") == "function");
    CHECK(call.at("function").at("name") == "get_weather");
    CHECK(call.at("function").at("arguments") == "{\"city\":\"Paris\"}");
    const auto delta = chat_tool_call_delta(1, calls[0]);
    CHECK(delta.at("tool_calls").as_array()[0].at("index") == 1);
}

TEST_CASE("openai_chat: image_url parts, data URLs and http(s) URLs") {
    auto r = parsed(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"see"},
        {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ","detail":"low"}},
        {"type":"image_url","image_url":{"url":"https://example.com/a.webp"}}]}]})");
    REQUIRE(r.messages[0].images.size() == 2);
    CHECK(r.messages[0].images[0].media_type == "image/jpeg");
    CHECK(r.messages[0].images[0].data == "/9j/4AAQ");
    CHECK(r.messages[0].images[0].bytes == 6);
    CHECK(r.messages[0].images[1].url == "https://example.com/a.webp");
    CHECK(render_chat_prompt(r).images.size() == 2);
    for (const char* url : {"data:text/plain;base64,QQ==", "data:image/png,raw", "data:image/png;base64,@@@@", "ftp://x/y.png"})
        CHECK(refused(std::string(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":")") +
                      url + R"("}}]}]})")
                  .param == "messages[0].content[0].image_url.url");
    // Only user messages carry images.
    CHECK(refused(R"({"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},
                      {"role":"user","content":"x"}]})")
              .param == "messages[0].content[0].type");
}
