#include "facade/messages.hpp"

#include "daemon/core/ids.hpp"
#include "daemon/services/turn_service.hpp"
#include "facade/chat_completions.hpp"
#include "facade/http_errors.hpp"
#include "facade/http_turn.hpp"
#include "facade/structured_answer.hpp"
#include "protocol/anthropic_messages.hpp"
#include "protocol/openai_upstream.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace ksid::facade {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Anthropic message ids: "msg_" and 24 hex digits, new for every response (a session's messages must not
// share one: clients such as Claude Code merge content blocks by message id).
std::string new_message_id() {
    std::string hex = daemon::uuid4();
    hex.erase(std::remove(hex.begin(), hex.end(), '-'), hex.end());
    return "msg_" + hex.substr(0, 24);
}

// Anthropic's bytes for a turn: a `message`, or message_start, content blocks (one per CLI message: an
// agentic turn's several API messages become one message, blocks numbered from 0), message_delta and
// message_stop. The CLI's own tool calls already ran: they are not passed on as tool_use blocks.
class MessagesResponder final : public TurnResponder {
public:
    // to_ksid: the request came through another ksid's API shim, which gets the CLI's own result object.
    // tools_ignored: the request's tools could not be offered (x-ksid-client-tools: unavailable).
    // schema: structured output's (the content is the checked JSON, or a refusal).
    MessagesResponder(std::string model, bool to_ksid, bool tools_ignored, std::optional<json::value> schema)
        : model_(std::move(model)), id_(new_message_id()), to_ksid_(to_ksid), tools_ignored_(tools_ignored),
          schema_(std::move(schema)) {}

    HttpResponse error(const protocol::OpenAIError& e) const override {
        return error_response(e, ApiDialect::anthropic);
    }

    HttpResponse answer(const std::string&, const daemon::TurnAnswer& a) const override {
        std::optional<std::string_view> session;
        if (a.session_id) session = *a.session_id;
        HttpResponse res;
        const auto [text, stop_reason] = content_of(a);
        auto body = protocol::message_body(id_, model_, text, stop_reason, a.usage, session, a.tool_calls);
        if (to_ksid_) body["ksid_result"] = a.cli_result;
        res.body = json::serialize(body);
        if (session) res.set("X-Session-Id", std::string(*session));
        return res;
    }

    void stream_headers(HttpResponse& head) const override {
        if (tools_ignored_) head.set("x-ksid-client-tools", "unavailable");
    }

    std::string stream_start(const std::string&, const std::string& session) override {
        encoder_.emplace(id_, model_, session.empty() ? std::nullopt : std::optional<std::string>(session));
        return encoder_->start();
    }

    std::string stream_event(const daemon::TurnEvent& e) override {
        if (schema_) return {}; // the content is the checked JSON, at the end
        if (const auto* d = std::get_if<daemon::TextDelta>(&e)) return encoder_->text(d->text);
        if (const auto* m = std::get_if<daemon::AssistantText>(&e))
            return m->already_streamed ? encoder_->end_block() : encoder_->whole_text(m->text);
        return {};
    }

    std::string stream_keepalive() override { return protocol::MessageStreamEncoder::ping(); }

    std::string stream_error(const protocol::OpenAIError& e) override {
        return protocol::MessageStreamEncoder::error(e);
    }

    std::string stream_finish(const daemon::TurnAnswer& a) override {
        const auto [text, stop_reason] = content_of(a);
        return encoder_->finish(text, stop_reason, a.usage, to_ksid_ ? &a.cli_result : nullptr, a.tool_calls);
    }

    // The text and stop reason the message has: the answer's, or structured output's checked JSON (a
    // refusal, stop reason "refusal", with the reason as its text).
    std::pair<std::string, std::string> content_of(const daemon::TurnAnswer& a) const {
        if (!schema_) return {a.text, a.stop_reason};
        auto structured = structured_content(a, *schema_);
        return {std::move(structured.text), structured.refused ? "refusal" : "end_turn"};
    }

private:
    std::string model_;
    std::string id_;
    bool to_ksid_;
    bool tools_ignored_;
    std::optional<json::value> schema_;
    std::optional<protocol::MessageStreamEncoder> encoder_;
};

} // namespace

asio::awaitable<HttpResponse> messages_endpoint(FacadeContext& c, HttpExchange& x) {
    const std::string hops(x.header(protocol::hop_header));
    const ChatHttpRequest request{x.body(), x.header("X-Session-Id"), hops, x.request_id()};
    auto plan = plan_messages_turn(request, chat_policy_of(c));
    if (!plan) co_return error_response(plan.error(), ApiDialect::anthropic);
    MessagesResponder responder(plan->chat.model, !plan->turn.hops.empty(), plan->tools_ignored,
                                plan->chat.output_schema);
    HttpTurn turn{std::move(plan->turn), plan->chat.stream, plan->chat.agent_id};
    HttpResponse res = co_await serve_turn(c, x, std::move(turn), responder);
    if (plan->tools_ignored) res.set("x-ksid-client-tools", "unavailable"); // a whole response's
    co_return res;
}

HttpResponse count_tokens_endpoint(const FacadeContext& c, HttpExchange& x) {
    auto parsed =
        protocol::parse_messages_request(x.body(), std::nullopt, protocol::MessagesEndpoint::count_tokens);
    if (!parsed) return error_response(parsed.error(), ApiDialect::anthropic);
    if (auto problem = c.deps.turns.model_problem(parsed->chat.model))
        return error_response(openai_error_for(daemon::errc::invalid_model, TurnErrorContext{*problem}),
                              ApiDialect::anthropic);
    HttpResponse res;
    res.body = json::serialize(json::object{{"input_tokens", protocol::estimate_input_tokens(*parsed)}});
    res.set("x-ksid-token-count", "estimate"); // not the model's tokenizer: see the README
    return res;
}

} // namespace ksid::facade
