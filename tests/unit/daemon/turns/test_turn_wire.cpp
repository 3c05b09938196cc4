#include "daemon/turns/turn_wire.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <limits>

using namespace ksid::daemon;
using ksid::protocol::ClientTool;
using ksid::protocol::ClientToolCall;
using ksid::protocol::ClientToolResult;
using ksid::protocol::ImageInput;
namespace json = boost::json;

namespace {
// As it travels through the broker: serialized, then parsed.
json::value through_text(const json::object& o) {
    return json::parse(json::serialize(o));
}

void check_same_images(const std::vector<ImageInput>& a, const std::vector<ImageInput>& b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].media_type == b[i].media_type);
        CHECK(a[i].data == b[i].data);
        CHECK(a[i].url == b[i].url);
        CHECK(a[i].bytes == b[i].bytes);
    }
}

TurnRequest full_request() {
    TurnRequest r;
    r.prompt = "hello \xE2\x9C\x93 \"quoted\"\n";
    r.images = {{"image/png", "iVBORw0KGgo=", "", 8}, {"", "", "https://example.com/a.jpg", 0}};
    r.model = "claude-sonnet-4";
    r.resume_session = "0b9c7a7e-1111-2222-3333-444455556666";
    r.enable_tools = false;
    r.no_tools = true;
    r.append_system_prompt = "be brief";
    r.output = TurnOutput::events;
    r.incremental = false;
    r.time_limit = std::chrono::milliseconds(12'345);
    r.agent_id = "agent-7";
    r.priority = 2;
    r.hops = "abc,def";
    r.origin = "HTTP req_1";
    r.client_tools = std::make_shared<const std::vector<ClientTool>>(std::vector<ClientTool>{
        {"get_weather", "the weather", json::parse(R"({"type":"object","properties":{}})").as_object()},
        {"b", "", {}}});
    r.client_tools_key = "key123";
    r.tool_results = {{"toolu_1", "sunny", false, {{"image/jpeg", "/9j/", "", 3}}},
                      {"toolu_2", "oops", true, {}}};
    r.tenant = "acme";
    r.transport = "openai";
    r.request_id = "req_1";
    r.admission = std::numeric_limits<std::uint64_t>::max(); // beyond int64: a uint64 in JSON
    r.json_schema = R"({"type":"object"})";
    r.replay_prompt = "User: hi\nAssistant: hello\n";
    r.replay_images = {{"image/gif", "R0lGOD==", "", 4}};
    return r;
}
} // namespace

TEST_CASE("turn_wire: a fully populated request round-trips field by field") {
    const TurnRequest r = full_request();
    auto decoded = turn_request_from_json(through_text(turn_request_to_json(r)));
    REQUIRE(decoded.has_value());
    const TurnRequest& d = *decoded;
    CHECK(d.prompt == r.prompt);
    check_same_images(d.images, r.images);
    CHECK(d.model == r.model);
    CHECK(d.resume_session == r.resume_session);
    CHECK(d.enable_tools == r.enable_tools);
    CHECK(d.no_tools == r.no_tools);
    CHECK(d.append_system_prompt == r.append_system_prompt);
    CHECK(d.output == TurnOutput::events);
    CHECK(d.incremental == r.incremental);
    CHECK(d.time_limit == r.time_limit);
    CHECK(d.agent_id == r.agent_id);
    CHECK(d.priority == r.priority);
    CHECK(d.hops == r.hops);
    CHECK(d.origin == r.origin);
    REQUIRE(d.client_tools != nullptr);
    REQUIRE(d.client_tools->size() == 2);
    CHECK((*d.client_tools)[0].name == "get_weather");
    CHECK((*d.client_tools)[0].description == "the weather");
    CHECK((*d.client_tools)[0].input_schema == (*r.client_tools)[0].input_schema);
    CHECK((*d.client_tools)[1].name == "b");
    CHECK((*d.client_tools)[1].input_schema.empty());
    CHECK(d.client_tools_key == r.client_tools_key);
    REQUIRE(d.tool_results.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(d.tool_results[i].tool_use_id == r.tool_results[i].tool_use_id);
        CHECK(d.tool_results[i].content == r.tool_results[i].content);
        CHECK(d.tool_results[i].is_error == r.tool_results[i].is_error);
        check_same_images(d.tool_results[i].images, r.tool_results[i].images);
    }
    CHECK(d.tenant == r.tenant);
    CHECK(d.transport == r.transport);
    CHECK(d.request_id == r.request_id);
    CHECK(d.admission == r.admission);
    CHECK(d.json_schema == r.json_schema);
    CHECK(d.replay_prompt == r.replay_prompt);
    check_same_images(d.replay_images, r.replay_images);
}

TEST_CASE("turn_wire: a default request round-trips to the defaults; missing fields take them") {
    auto d = turn_request_from_json(through_text(turn_request_to_json(TurnRequest{})));
    REQUIRE(d.has_value());
    CHECK(d->output == TurnOutput::cli_json);
    CHECK(d->client_tools == nullptr);
    CHECK_FALSE(d->resume_session.has_value());
    CHECK_FALSE(d->agent_id.has_value());
    CHECK(d->time_limit == std::chrono::milliseconds(300'000));
    CHECK(d->transport == "socket");

    auto empty = turn_request_from_json(json::object{});
    REQUIRE(empty.has_value());
    CHECK(empty->enable_tools);
    CHECK(empty->incremental);
    CHECK(empty->priority == 5);
    CHECK(empty->transport == "socket");
    CHECK(empty->client_tools == nullptr);

    // An empty tool set is not no tool set.
    TurnRequest r;
    r.client_tools = std::make_shared<const std::vector<ClientTool>>();
    auto e = turn_request_from_json(through_text(turn_request_to_json(r)));
    REQUIRE(e.has_value());
    REQUIRE(e->client_tools != nullptr);
    CHECK(e->client_tools->empty());
}

TEST_CASE("turn_wire: each event alternative round-trips") {
    auto round = [](const TurnEvent& e) {
        auto d = turn_event_from_json(through_text(turn_event_to_json(e)));
        REQUIRE(d.has_value());
        REQUIRE(d->index() == e.index());
        return *d;
    };
    {
        auto d = std::get<TurnStarted>(round(TurnStarted{"sess-1", "claude-opus"}));
        CHECK(d.session_id == "sess-1");
        CHECK(d.model == "claude-opus");
        CHECK_FALSE(std::get<TurnStarted>(round(TurnStarted{std::nullopt, "m"})).session_id.has_value());
    }
    CHECK(std::get<TextDelta>(round(TextDelta{"pie"})).text == "pie");
    {
        auto d = std::get<AssistantText>(round(AssistantText{"whole", true}));
        CHECK(d.text == "whole");
        CHECK(d.already_streamed);
    }
    {
        auto d = std::get<ToolUse>(
            round(ToolUse{"toolu_9", "Bash", json::parse(R"({"command":"ls","n":[1,2.5]})")}));
        CHECK(d.id == "toolu_9");
        CHECK(d.name == "Bash");
        CHECK(d.input == json::parse(R"({"command":"ls","n":[1,2.5]})"));
    }
    {
        auto d = std::get<ToolResult>(round(ToolResult{"toolu_9", "file.txt", true}));
        CHECK(d.tool_use_id == "toolu_9");
        CHECK(d.content == "file.txt");
        CHECK(d.is_error);
    }
    {
        auto usage = json::parse(R"({"input_tokens":10,"output_tokens":3})").as_object();
        CHECK(std::get<UsageUpdate>(round(UsageUpdate{usage})).usage == usage);
    }
    {
        auto info = json::parse(R"({"status":"allowed_warning","resetsAt":1700000000})").as_object();
        CHECK(std::get<RateLimitNotice>(round(RateLimitNotice{info})).info == info);
    }
    CHECK(turn_event_to_json(TextDelta{"x"}).at("type") == "text_delta");
}

TEST_CASE("turn_wire: an outcome with an answer, tool calls, structured output and the CLI's result") {
    TurnOutcome o;
    o.detail = "fine";
    o.started = true;
    o.interrupted = true;
    o.log_failed = true;
    o.replayed_session = "old-session";
    TurnAnswer a;
    a.session_id = "sess-2";
    a.text = "calling tools";
    a.stop_reason = "tool_use";
    a.usage = json::parse(R"({"input_tokens":5})").as_object();
    a.cost_usd = 0.0125;
    a.is_error = true;
    a.tool_calls = {{"toolu_a", "get_weather", json::parse(R"({"city":"Paris"})")},
                    {"toolu_b", "noop", json::value(nullptr)}};
    a.structured_output = json::parse(R"({"answer":42})");
    a.cli_result =
        json::parse(R"({"type":"result","subtype":"success","result":"calling tools"})").as_object();
    o.answer = a;
    o.process = ProcessOutput{"out\n", "err\n", -9};

    auto decoded = turn_outcome_from_json(through_text(turn_outcome_to_json(o)));
    REQUIRE(decoded.has_value());
    const TurnOutcome& d = *decoded;
    CHECK(d.ok());
    CHECK(d.detail == "fine");
    CHECK(d.started);
    CHECK(d.interrupted);
    CHECK(d.log_failed);
    CHECK(d.replayed_session == "old-session");
    REQUIRE(d.answer.has_value());
    CHECK(d.answer->session_id == "sess-2");
    CHECK(d.answer->text == a.text);
    CHECK(d.answer->stop_reason == "tool_use");
    CHECK(d.answer->usage == a.usage);
    CHECK(d.answer->cost_usd == a.cost_usd);
    CHECK(d.answer->is_error);
    REQUIRE(d.answer->tool_calls.size() == 2);
    CHECK(d.answer->tool_calls[0].id == "toolu_a");
    CHECK(d.answer->tool_calls[0].name == "get_weather");
    CHECK(d.answer->tool_calls[0].input == a.tool_calls[0].input);
    CHECK(d.answer->tool_calls[1].input.is_null());
    REQUIRE(d.answer->structured_output.has_value());
    CHECK(*d.answer->structured_output == *a.structured_output);
    CHECK(d.answer->cli_result == a.cli_result);
    REQUIRE(d.process.has_value());
    CHECK(d.process->stdout_data == "out\n");
    CHECK(d.process->stderr_data == "err\n");
    CHECK(d.process->returncode == -9);

    // A structured output that is JSON null is still one; none is none.
    o.answer->structured_output = json::value(nullptr);
    auto n = turn_outcome_from_json(through_text(turn_outcome_to_json(o)));
    REQUIRE(n.has_value());
    REQUIRE(n->answer->structured_output.has_value());
    CHECK(n->answer->structured_output->is_null());
    o.answer->structured_output.reset();
    o.process.reset();
    auto none = turn_outcome_from_json(through_text(turn_outcome_to_json(o)));
    REQUIRE(none.has_value());
    CHECK_FALSE(none->answer->structured_output.has_value());
    CHECK_FALSE(none->process.has_value());
}

TEST_CASE("turn_wire: error outcomes keep their errc; another category becomes internal") {
    auto full = TurnOutcome::failure(errc::queue_full, "the queue is full (10 waiting)");
    auto encoded = turn_outcome_to_json(full);
    CHECK(encoded.at("error") == json::parse(R"({"category":"ksid","value":1})"));
    auto d = turn_outcome_from_json(through_text(encoded));
    REQUIRE(d.has_value());
    CHECK(is(d->error, errc::queue_full));
    CHECK(d->detail == "the queue is full (10 waiting)");
    CHECK_FALSE(d->answer.has_value());
    CHECK_FALSE(d->replayed_session.has_value());

    auto limited = TurnOutcome::failure(errc::subscription_limited);
    limited.retry_after_ms = 3'600'000;
    auto l = turn_outcome_from_json(through_text(turn_outcome_to_json(limited)));
    REQUIRE(l.has_value());
    CHECK(is(l->error, errc::subscription_limited));
    CHECK(l->retry_after_ms == 3'600'000);

    auto up = TurnOutcome::failure(errc::upstream_failed);
    up.upstream_status = 502;
    auto u = turn_outcome_from_json(through_text(turn_outcome_to_json(up)));
    REQUIRE(u.has_value());
    CHECK(is(u->error, errc::upstream_failed));
    CHECK(u->upstream_status == 502);

    auto spawn = TurnOutcome::failure(errc::spawn_failed);
    spawn.spawn_errno = ENOENT;
    auto s = turn_outcome_from_json(through_text(turn_outcome_to_json(spawn)));
    REQUIRE(s.has_value());
    CHECK(s->spawn_errno == ENOENT);

    auto generic = TurnOutcome::failure(boost::system::error_code(ENOENT, boost::system::generic_category()),
                                        "opening the log");
    auto ge = turn_outcome_to_json(generic);
    CHECK(ge.at("error").at("category") == "generic");
    CHECK(ge.at("error").as_object().contains("message"));
    auto g = turn_outcome_from_json(through_text(ge));
    REQUIRE(g.has_value());
    CHECK(is(g->error, errc::internal));
    CHECK(g->detail.find("opening the log") == 0);
    CHECK(g->detail.find(generic.error.message()) != std::string::npos);

    // A ksid value that is no errc.
    CHECK_FALSE(
        turn_outcome_from_json(json::parse(R"({"error":{"category":"ksid","value":999}})")).has_value());
    CHECK_FALSE(
        turn_outcome_from_json(json::parse(R"({"error":{"category":"ksid","value":0}})")).has_value());
}

TEST_CASE("turn_wire: integers as int64 or uint64") {
    json::object o;
    o["priority"] = std::uint64_t{3};
    o["time_limit_ms"] = std::uint64_t{1000};
    o["admission"] = std::int64_t{77};
    auto r = turn_request_from_json(o);
    REQUIRE(r.has_value());
    CHECK(r->priority == 3);
    CHECK(r->time_limit == std::chrono::milliseconds(1000));
    CHECK(r->admission == 77);
    // Out of range for the field.
    o["priority"] = std::uint64_t{1} << 40;
    CHECK_FALSE(turn_request_from_json(o).has_value());
    o["priority"] = 3;
    o["admission"] = -1;
    CHECK_FALSE(turn_request_from_json(o).has_value());
    // cost_usd takes an integer.
    auto out = turn_outcome_from_json(json::parse(R"({"answer":{"cost_usd":2}})"));
    REQUIRE(out.has_value());
    CHECK(out->answer->cost_usd == 2.0);
}

TEST_CASE("turn_wire: wrong types are errors, not exceptions") {
    auto bad_request = [](std::string_view text) {
        json::value v = json::parse(text);
        result<TurnRequest> r = make_error_code(errc::queue_full);
        CHECK_NOTHROW(r = turn_request_from_json(v));
        REQUIRE_FALSE(r.has_value());
        CHECK(is(r.error(), errc::internal));
    };
    bad_request("[]");
    bad_request("\"a\"");
    bad_request("null");
    bad_request(R"({"prompt":5})");
    bad_request(R"({"enable_tools":"yes"})");
    bad_request(R"({"priority":1.5})");
    bad_request(R"({"priority":"1"})");
    bad_request(R"({"time_limit_ms":true})");
    bad_request(R"({"output":"text"})");
    bad_request(R"({"output":1})");
    bad_request(R"({"resume_session":7})");
    bad_request(R"({"images":{}})");
    bad_request(R"({"images":[1]})");
    bad_request(R"({"images":[{"bytes":-1}]})");
    bad_request(R"({"client_tools":[{"name":1}]})");
    bad_request(R"({"client_tools":[{"input_schema":[]}]})");
    bad_request(R"({"client_tools":{}})");
    bad_request(R"({"tool_results":[{"images":[{"data":false}]}]})");
    bad_request(R"({"replay_images":"x"})");
    bad_request(R"({"replay_prompt":[]})");
    // null for an optional is absent.
    CHECK(turn_request_from_json(json::parse(R"({"resume_session":null,"client_tools":null})")).has_value());

    auto bad_event = [](std::string_view text) {
        json::value v = json::parse(text);
        CHECK_NOTHROW(CHECK_FALSE(turn_event_from_json(v).has_value()));
    };
    bad_event("{}");
    bad_event("[]");
    bad_event(R"({"type":7})");
    bad_event(R"({"type":"text_delta","text":1})");
    bad_event(R"({"type":"started","session_id":{}})");
    bad_event(R"({"type":"assistant_text","already_streamed":1})");
    bad_event(R"({"type":"usage","usage":[]})");
    bad_event(R"({"type":"rate_limit","info":"x"})");
    bad_event(R"({"type":"tool_result","is_error":"no"})");

    auto bad_outcome = [](std::string_view text) {
        json::value v = json::parse(text);
        CHECK_NOTHROW(CHECK_FALSE(turn_outcome_from_json(v).has_value()));
    };
    bad_outcome("1");
    bad_outcome(R"({"type":"text_delta"})");
    bad_outcome(R"({"error":"queue_full"})");
    bad_outcome(R"({"error":{"value":1}})");
    bad_outcome(R"({"error":{"category":"ksid","value":"1"}})");
    bad_outcome(R"({"detail":false})");
    bad_outcome(R"({"retry_after_ms":"soon"})");
    bad_outcome(R"({"answer":[]})");
    bad_outcome(R"({"answer":{"tool_calls":[{"id":3}]}})");
    bad_outcome(R"({"answer":{"cli_result":"x"}})");
    bad_outcome(R"({"answer":{"cost_usd":"1"}})");
    bad_outcome(R"({"process":{"returncode":1e3}})");
    bad_outcome(R"({"replayed_session":1})");
}

TEST_CASE("turn_wire: an unknown event type is rejected") {
    auto r = turn_event_from_json(json::parse(R"({"type":"thinking_delta","text":"hmm"})"));
    REQUIRE_FALSE(r.has_value());
    CHECK(is(r.error(), errc::internal));
    // The outcome that ends an events stream is not an event.
    CHECK_FALSE(turn_event_from_json(turn_outcome_to_json(TurnOutcome{})).has_value());
    CHECK(turn_outcome_from_json(turn_outcome_to_json(TurnOutcome{})).has_value());
}
