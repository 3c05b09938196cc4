#include "facade/chat_completions.hpp"

#include "daemon/core/ids.hpp"
#include "daemon/services/turn_service.hpp"
#include "facade/chat_request.hpp"
#include "facade/http_errors.hpp"
#include "facade/http_turn.hpp"
#include "facade/structured_answer.hpp"
#include "protocol/openai_chat.hpp"
#include "protocol/openai_upstream.hpp"

#include <boost/json/serialize.hpp>

namespace ksid::facade {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

long long unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// OpenAI's bytes for a turn: a chat.completion, or chat.completion.chunk events ending in [DONE]. The
// completion's id is the Claude session id (the original plan's way to resume).
class ChatCompletionResponder final : public TurnResponder {
public:
    // to_ksid: the request came through another ksid's API shim, which gets the CLI's own result object.
    // tools_ignored: the request's tools could not be offered (x-ksid-client-tools: unavailable).
    ChatCompletionResponder(const protocol::ChatRequest& chat, bool to_ksid, bool tools_ignored)
        : chat_(chat), to_ksid_(to_ksid), tools_ignored_(tools_ignored), created_(unix_now()) {}

    HttpResponse error(const protocol::OpenAIError& e) const override { return error_response(e); }

    HttpResponse answer(const std::string& job_id, const daemon::TurnAnswer& a) const override {
        const std::string session = a.session_id.value_or("");
        std::optional<StructuredContent> structured;
        if (chat_.output_schema) structured = structured_content(a, *chat_.output_schema);
        auto body = protocol::chat_completion_body(session.empty() ? "chatcmpl-" + job_id : session, created_,
                                                   chat_.model, structured ? structured->text : a.text,
                                                   protocol::finish_reason_for(a.stop_reason), a.usage,
                                                   a.tool_calls);
        if (structured && structured->refused) { // as the API answers a refusal: no content, the reason
            auto& message = body["choices"].as_array()[0].as_object()["message"].as_object();
            message["content"] = nullptr;
            message["refusal"] = structured->text;
        }
        if (to_ksid_) body["ksid_result"] = a.cli_result; // another ksid's API shim: its exact result
        HttpResponse res;
        res.body = json::serialize(body);
        if (!session.empty()) res.set("X-Session-Id", session);
        return res;
    }

    void stream_headers(HttpResponse& head) const override {
        if (tools_ignored_) head.set("x-ksid-client-tools", "unavailable");
    }

    std::string stream_start(const std::string& job_id, const std::string& session) override {
        id_ = session.empty() ? "chatcmpl-" + job_id : session;
        const json::object role{{"role", "assistant"}, {"content", ""}};
        return protocol::sse_event(protocol::chat_chunk_body(id_, created_, chat_.model, role, std::nullopt));
    }

    std::string stream_event(const daemon::TurnEvent& e) override {
        if (chat_.output_schema) return {}; // the content is the checked JSON, at the end
        const std::string* text = nullptr;
        if (const auto* d = std::get_if<daemon::TextDelta>(&e)) text = &d->text;
        if (const auto* m = std::get_if<daemon::AssistantText>(&e); m && !m->already_streamed)
            text = &m->text;
        if (!text) return {};
        const json::object delta{{"content", *text}};
        return protocol::sse_event(
            protocol::chat_chunk_body(id_, created_, chat_.model, delta, std::nullopt));
    }

    std::string stream_keepalive() override { return std::string(protocol::sse_keepalive); }

    std::string stream_error(const protocol::OpenAIError& e) override {
        return protocol::sse_event(protocol::openai_error_body(e)) + std::string(protocol::sse_done);
    }

    std::string stream_finish(const daemon::TurnAnswer& a) override {
        std::string out;
        if (chat_.output_schema) {
            const auto structured = structured_content(a, *chat_.output_schema);
            const json::object delta{{structured.refused ? "refusal" : "content", structured.text}};
            out += protocol::sse_event(protocol::chat_chunk_body(id_, created_, chat_.model, delta, std::nullopt));
        }
        for (std::size_t i = 0; i < a.tool_calls.size(); ++i) // the client's calls, whole, one chunk each
            out += protocol::sse_event(protocol::chat_chunk_body(
                id_, created_, chat_.model, protocol::chat_tool_call_delta(i, a.tool_calls[i]), std::nullopt));
        json::object finish = protocol::chat_chunk_body(
            id_, created_, chat_.model, {},
            a.tool_calls.empty() ? protocol::finish_reason_for(a.stop_reason) : "tool_calls");
        if (to_ksid_) finish["ksid_result"] = a.cli_result; // another ksid's API shim
        out += protocol::sse_event(finish);
        if (chat_.include_usage)
            out += protocol::sse_event(protocol::chat_usage_chunk_body(id_, created_, chat_.model, a.usage));
        out += protocol::sse_done;
        return out;
    }

private:
    const protocol::ChatRequest& chat_;
    bool to_ksid_;
    bool tools_ignored_;
    long long created_;
    std::string id_;
};

} // namespace

ChatPolicy chat_policy_of(const FacadeContext& c) {
    ChatPolicy p;
    p.instance_id = daemon::instance_id();
    p.tools_allowed = c.settings().enable_tools;
    p.stopping = c.deps.turns.stopping();
    p.client_tools = c.deps.pool != nullptr;
    p.images = c.deps.upstream == nullptr;
    p.max_images = c.settings().max_images;
    p.max_image_bytes = c.settings().max_image_bytes;
    p.max_images_total_bytes = c.settings().max_images_total_bytes;
    p.replay_sessions = !c.deps.config.queue.broker.empty();
    p.model_problem = [&turns = c.deps.turns](std::string_view model) { return turns.model_problem(model); };
    return p;
}

asio::awaitable<HttpResponse> chat_completions_endpoint(FacadeContext& c, HttpExchange& x) {
    const std::string hops(x.header(protocol::hop_header));
    const ChatHttpRequest request{x.body(), x.header("X-Session-Id"), hops, x.request_id()};
    auto plan = plan_chat_turn(request, chat_policy_of(c));
    if (!plan) co_return error_response(plan.error());
    ChatCompletionResponder responder(plan->chat, !plan->turn.hops.empty(), plan->tools_ignored);
    HttpTurn turn{std::move(plan->turn), plan->chat.stream, plan->chat.agent_id};
    HttpResponse res = co_await serve_turn(c, x, std::move(turn), responder);
    if (plan->tools_ignored) res.set("x-ksid-client-tools", "unavailable"); // a whole response's
    co_return res;
}

} // namespace ksid::facade
