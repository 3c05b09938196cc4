#include "daemon/backends/turn_events_from_cli.hpp"

#include "protocol/claude_cli.hpp"

namespace ksid::daemon {
namespace json = boost::json;
using Kind = protocol::StreamEvent::Kind;

std::optional<TurnEvent> turn_event_from_cli(const protocol::StreamEvent& e) {
    switch (e.kind) {
    case Kind::init: {
        const auto* model = e.object.if_contains("model");
        return TurnStarted{e.session_id, model && model->is_string() ? std::string(model->get_string()) : ""};
    }
    case Kind::text_delta:
        return TextDelta{e.text};
    case Kind::assistant_text:
        return AssistantText{e.text, e.already_streamed};
    case Kind::tool_use:
        return ToolUse{e.id, e.text, e.input};
    case Kind::tool_result:
        return ToolResult{e.id, e.text, e.is_error};
    case Kind::rate_limit:
        return RateLimitNotice{e.object};
    case Kind::result:
    case Kind::message_end:
    case Kind::control_request:
        return std::nullopt;
    }
    return std::nullopt;
}

TurnAnswer answer_from_cli_result(json::object result, std::optional<std::string> fallback_session) {
    TurnAnswer a;
    auto string_at = [&](std::string_view key) -> std::optional<std::string> {
        const auto* v = result.if_contains(key);
        if (!v || !v->is_string()) return std::nullopt;
        return std::string(v->get_string());
    };
    auto session = string_at("sessionId"); // the legacy daemon's precedence (spec §6.4)
    if (!session || session->empty()) session = string_at("session_id");
    if (session && protocol::is_valid_session_id(*session))
        a.session_id = std::move(session);
    else
        a.session_id = std::move(fallback_session);
    a.text = string_at("result").value_or("");
    a.stop_reason = string_at("stop_reason").value_or("end_turn");
    if (const auto* u = result.if_contains("usage"); u && u->is_object()) a.usage = u->get_object();
    if (const auto* c = result.if_contains("total_cost_usd"); c && c->is_number())
        a.cost_usd = c->to_number<double>();
    const auto* is_error = result.if_contains("is_error");
    a.is_error = is_error && is_error->is_bool() && is_error->get_bool();
    if (const auto* s = result.if_contains("structured_output"); s && !s->is_null()) a.structured_output = *s;
    a.cli_result = std::move(result);
    return a;
}

} // namespace ksid::daemon
