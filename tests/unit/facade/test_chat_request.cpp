#include "facade/chat_request.hpp"

#include <doctest/doctest.h>

using namespace ksid::facade;

namespace {
ChatPolicy policy(bool tools = false, bool stopping = false) {
    ChatPolicy p;
    p.instance_id = "00112233445566ff";
    p.tools_allowed = tools;
    p.stopping = stopping;
    p.model_problem = [](std::string_view m) -> std::optional<std::string> {
        if (m == "sonnet") return std::nullopt;
        return "unknown model '" + std::string(m) + "'";
    };
    return p;
}
constexpr std::string_view simple = R"({"model":"sonnet","messages":[{"role":"user","content":"hi"}]})";
} // namespace

TEST_CASE("chat request → turn: the turn a valid request becomes") {
    const ChatHttpRequest req{R"({"model":"sonnet","stream":true,"messages":[{"role":"system","content":"s"},
        {"role":"user","content":"hi"}],"metadata":{"enable_tools":true,"agent_id":"a","priority":3}})",
                              "sess-h", "aaaaaaaaaaaaaaaa", "req_1"};
    auto plan = plan_chat_turn(req, policy(true));
    REQUIRE(plan.has_value());
    const auto& t = plan->turn;
    CHECK(t.prompt == "hi");
    CHECK(t.append_system_prompt == "s");
    CHECK(t.model == "sonnet");
    CHECK(t.resume_session == "sess-h");
    CHECK(t.enable_tools);
    CHECK(t.output == ksid::daemon::TurnOutput::events);
    CHECK(t.incremental);
    CHECK(t.agent_id == "a");
    CHECK(t.priority == 3);
    CHECK(t.hops == "aaaaaaaaaaaaaaaa");
    CHECK(t.origin == "HTTP req_1");
}

TEST_CASE("chat request → turn: each refusal") {
    auto status = [](ChatHttpRequest r, ChatPolicy p) {
        auto plan = plan_chat_turn(r, p);
        REQUIRE_FALSE(plan.has_value());
        return plan.error();
    };
    CHECK(status({simple, "", "00112233445566ff", "r"}, policy()).status == 508); // our own id: a loop
    CHECK(status({simple, "", "not-hex", "r"}, policy()).status == 400);
    CHECK(status({"{", "", "", "r"}, policy()).status == 400);
    auto model =
        status({R"({"model":"gpt","messages":[{"role":"user","content":"hi"}]})", "", "", "r"}, policy());
    CHECK(model.status == 404);
    CHECK(model.code == "model_not_found");
    auto tools = status(
        {R"({"model":"sonnet","messages":[{"role":"user","content":"hi"}],"metadata":{"enable_tools":true}})",
         "", "", "r"},
        policy(false));
    CHECK(tools.status == 400);
    CHECK(tools.param == "metadata.enable_tools");
    CHECK(
        status(
            {R"({"model":"sonnet","messages":[{"role":"system","content":"only"},{"role":"user","content":""}]})",
             "", "", "r"},
            policy())
            .message == "there is no user text to answer");
    const std::string big_system = R"({"model":"sonnet","messages":[{"role":"system","content":")" +
                                   std::string(100 * 1024 + 1, 'x') +
                                   R"("},{"role":"user","content":"hi"}]})";
    CHECK(status({big_system, "", "", "r"}, policy()).param == "messages");
    CHECK(status({simple, "", "", "r"}, policy(false, true)).status == 503);
    // Tools asked for on a server that allows them, or not asked for: allowed.
    CHECK(plan_chat_turn({simple, "", "", "r"}, policy(true)).has_value());
    CHECK_FALSE(plan_chat_turn({simple, "", "", "r"}, policy(true))->turn.enable_tools);
}
