#include "protocol/json_parse.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/sse_parser.hpp"
#include "protocol/stream_json.hpp"

#include "tests/unit/json_object.hpp"
#include "tests/unit/protocol/hello_stream.hpp"

#include <boost/json.hpp>

#include <doctest/doctest.h>

using namespace ksid::protocol;
namespace json = boost::json;

TEST_CASE("SSE: events in any chunking, every line ending, comments, multi-line data") {
    const std::string stream =
        ": keepalive\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: one\ndata: two\n\ndata:[DONE]\r\r";
    for (std::size_t step = 1; step <= stream.size(); ++step) {
        SseParser p;
        std::vector<SseEvent> out;
        for (std::size_t i = 0; i < stream.size(); i += step)
            p.feed(std::string_view(stream).substr(i, step), out);
        REQUIRE(out.size() == 3);
        CHECK(out[0].data == "{\"a\":1}");
        CHECK(out[1].event == "x");
        CHECK(out[1].data == "one\ntwo");
        CHECK(out[2].data == "[DONE]");
    }
    SseParser small(16);
    std::vector<SseEvent> out;
    small.feed("data: 0123456789abcdefghij", out);
    CHECK(small.overflowed());
    SseParser nodata;
    nodata.feed("event: ping\n\n: c\n\n", out);
    CHECK(out.empty());
}

TEST_CASE("upstream base URLs") {
    auto b = parse_upstream_base("http://localhost:8000/v1/");
    REQUIRE(b.has_value());
    CHECK_FALSE(b->tls);
    CHECK(b->host == "localhost");
    CHECK(b->port == 8000);
    CHECK(b->path == "/v1");
    CHECK(b->host_header == "localhost:8000");
    b = parse_upstream_base("https://api.example.com");
    REQUIRE(b.has_value());
    CHECK(b->tls);
    CHECK(b->port == 443);
    CHECK(b->path == "");
    b = parse_upstream_base("http://[::1]:9/v1");
    REQUIRE(b.has_value());
    CHECK(b->host == "::1");
    for (auto bad : {"ftp://x/v1", "localhost:8000", "http://user:pw@h/v1", "http://h/v1?x=1", "http://h:0/",
                     "http:///v1", "http://h/v1#f", ""})
        CHECK_MESSAGE(!parse_upstream_base(bad).has_value(), bad);
}

TEST_CASE("the upstream request: messages, stream options and string metadata") {
    UpstreamTurn t;
    t.model = "gpt-4o";
    t.prompt = "hi \"there\"";
    t.system_prompt = "be brief";
    t.session_id = "abc";
    t.agent_id = "agent-1";
    t.enable_tools = false;
    t.priority = 3;
    t.stream = true;
    auto o = json_object_of(upstream_request_body(t));
    CHECK(o.at("model") == "gpt-4o");
    CHECK(o.at("messages").as_array().size() == 2);
    CHECK(o.at("messages").as_array()[0].at("role") == "system");
    CHECK(o.at("messages").as_array()[1].at("content") == "hi \"there\"");
    CHECK(o.at("stream") == true);
    CHECK(o.at("stream_options").at("include_usage") == true);
    const auto& m = o.at("metadata").as_object();
    CHECK(m.at("session_id") == "abc");
    CHECK(m.at("agent_id") == "agent-1");
    CHECK(m.at("enable_tools") == "false");
    CHECK(m.at("priority") == "3");
    for (const auto& [k, v] : m)
        CHECK_MESSAGE(v.is_string(), std::string(k));
    t.send_metadata = false;
    t.stream = false;
    t.system_prompt = "";
    o = json_object_of(upstream_request_body(t));
    CHECK_FALSE(o.contains("metadata"));
    CHECK_FALSE(o.contains("stream_options"));
    CHECK(o.at("messages").as_array().size() == 1);
}

TEST_CASE("a completion becomes the CLI's result object plus the plan's fields") {
    const ShimFields f{"sonnet", "2026-11-24T04:00:00.000000", std::string("a1")};
    auto r = cli_result_from_completion(
        R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"length"}],
            "usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}})",
        std::string("0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11"), f, 12);
    REQUIRE(r.has_value());
    CHECK(r->at("type") == "result");
    CHECK(r->at("subtype") == "success");
    CHECK(r->at("is_error") == false);
    CHECK(r->at("result") == "Hello");
    CHECK(r->at("stop_reason") == "max_tokens");
    CHECK(r->at("session_id") == "0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11");
    CHECK(r->at("sessionId") == "0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11");
    CHECK(r->at("usage").at("input_tokens") == 6);
    CHECK(r->at("usage").at("cache_read_input_tokens") == 4);
    CHECK(r->at("usage").at("output_tokens") == 3);
    CHECK(r->at("model") == "sonnet");
    CHECK(r->at("agent_id") == "a1");
    CHECK(r->at("duration_ms") == 12);

    // A ksid upstream's own claude result is used as it is.
    r = cli_result_from_completion(
        R"({"choices":[{"message":{"content":"x"}}],"ksid_result":{"type":"result","result":"exact","total_cost_usd":0.5,"session_id":"0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11"}})",
        std::nullopt, ShimFields{"opus", "t", std::nullopt}, 1);
    REQUIRE(r.has_value());
    CHECK(r->at("result") == "exact");
    CHECK(r->at("total_cost_usd") == 0.5);
    CHECK(r->at("sessionId") == "0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11");
    CHECK(r->at("agent_id").is_null());

    // No session from a foreign upstream; a header that is not a valid id is ignored.
    r = cli_result_from_completion(R"({"choices":[{"message":{"content":"x"},"finish_reason":"stop"}]})",
                                   std::string("../etc"), f, 1);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->contains("session_id"));
    CHECK(r->at("sessionId").is_null());
    // An upstream's X-Session-Id that names one of ksid's own logs is not a session either.
    r = cli_result_from_completion(R"({"choices":[{"message":{"content":"x"},"finish_reason":"stop"}]})",
                                   std::string("message_bus"), f, 1);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->contains("session_id"));

    r = cli_result_from_completion(
        R"({"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1e300,"completion_tokens":-5,"prompt_tokens_details":{"cached_tokens":18446744073709551615}}})",
        std::nullopt, f, 1);
    REQUIRE(r.has_value());
    CHECK(r->at("usage").at("output_tokens") == 0);
    CHECK(r->at("usage").at("input_tokens") == 0);
    CHECK_FALSE(cli_result_from_completion("not json", std::nullopt, f, 1).has_value());
    CHECK_FALSE(cli_result_from_completion("[]", std::nullopt, f, 1).has_value());
    CHECK_FALSE(cli_result_from_completion(R"({"choices":[]})", std::nullopt, f, 1).has_value());
}

TEST_CASE("SSE chunks become stream-json the facade's parser reads") {
    const std::string sse =
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
        ": keepalive\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n"
        "data: [DONE]\n\n";
    const std::string session = "0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11";
    for (std::size_t step : {1u, 7u, 1000u}) {
        UpstreamStreamTranslator t(session, ShimFields{"sonnet", "t", std::nullopt}, 1 << 20);
        auto last = check_hello_stream(t, sse, step, session);
        CHECK(last.at("usage").at("output_tokens") == 2);
    }
    // Cut off before it finished: an error, not a result.
    UpstreamStreamTranslator cut(std::nullopt, ShimFields{"sonnet", "t", std::nullopt}, 1 << 20);
    std::vector<StreamEvent> lines;
    cut.feed("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n", lines);
    CHECK_FALSE(cut.finish(1).has_value());
    // An error event: an is_error result carrying the upstream's message.
    UpstreamStreamTranslator err(std::nullopt, ShimFields{"sonnet", "t", std::nullopt}, 1 << 20);
    err.feed("data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n", lines);
    auto e = err.finish(1);
    REQUIRE(e.has_value());
    const auto& o = *e;
    CHECK(o.at("is_error") == true);
    CHECK(std::string(o.at("result").as_string()).find("overloaded") != std::string::npos);
    // Garbage: an error result too.
    UpstreamStreamTranslator bad(std::nullopt, ShimFields{"sonnet", "t", std::nullopt}, 1 << 20);
    bad.feed("data: {nope\n\n", lines);
    auto b = bad.finish(1);
    REQUIRE(b.has_value());
    CHECK(b->at("is_error") == true);
}

TEST_CASE("Retry-After, error messages and stop reasons") {
    const auto now = std::chrono::system_clock::from_time_t(784111777); // Sun, 06 Nov 1994 08:49:37 GMT
    CHECK(parse_retry_after("2", "", now) == std::chrono::milliseconds(2000));
    CHECK(parse_retry_after("0.5", "", now) == std::chrono::milliseconds(500));
    CHECK(parse_retry_after("2", "150", now) == std::chrono::milliseconds(150));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", "", now) == std::chrono::milliseconds(10000));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", "", now) == std::chrono::milliseconds(0));
    CHECK_FALSE(parse_retry_after("", "", now).has_value());
    CHECK_FALSE(parse_retry_after("soon", "", now).has_value());
    CHECK_FALSE(parse_retry_after("-1", "", now).has_value());
    CHECK(upstream_error_message(R"({"error":{"message":"bad model","type":"x"}})") == "bad model");
    CHECK(upstream_error_message("<html>\n502</html>") == "<html> 502</html>");
    CHECK(upstream_error_message("") == "(empty body)");
    CHECK(upstream_error_message(R"({"error":{"message":"two\nlines\u0000"}})") == "two lines ");
    CHECK(upstream_error_message("\xff\xfe") == "(text that is not UTF-8)");
    CHECK(upstream_error_message(std::string(299, 'a') + "\xc3\xa9").size() ==
          299); // not cut inside a character
    CHECK(parse_retry_after("Fri, 01 Jan 9999 00:00:00 GMT", "", now) ==
          std::chrono::milliseconds(86'400'000));
    CHECK(stop_reason_for("stop") == "end_turn");
    CHECK(stop_reason_for("length") == "max_tokens");
    CHECK(stop_reason_for("tool_calls") == "tool_use");
}

TEST_CASE("the hop chain: loops, too many hops, malformed headers") {
    const std::string me = "00112233445566ff";
    CHECK_FALSE(check_hop_chain("", me).has_value());
    CHECK_FALSE(check_hop_chain("aaaaaaaaaaaaaaaa", me).has_value());
    auto p = check_hop_chain("aaaaaaaaaaaaaaaa," + me, me);
    REQUIRE(p.has_value());
    CHECK_FALSE(p->malformed);
    CHECK(p->message.find("request loop") != std::string::npos);
    std::string eight;
    for (int i = 0; i < 8; ++i)
        eight += (i ? "," : "") + std::string(16, static_cast<char>('0' + i));
    p = check_hop_chain(eight, me);
    REQUIRE(p.has_value());
    CHECK(p->message.find("8 ksid instances") != std::string::npos);
    p = check_hop_chain("evil\r\nheader", me);
    REQUIRE(p.has_value());
    CHECK(p->malformed);
    CHECK(check_hop_chain(std::string(1000, 'a'), me)->malformed);
}
