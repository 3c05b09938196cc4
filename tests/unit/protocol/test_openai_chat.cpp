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
