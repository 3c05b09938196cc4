#include "protocol/openai_upstream.hpp"

#include "protocol/json_parse.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace ksid::protocol {
namespace json = boost::json;

std::string openai_target(std::string_view base_path) {
    return std::string(base_path) + "/chat/completions";
}

std::string upstream_request_body(const UpstreamTurn& t) {
    json::array messages;
    if (!t.system_prompt.empty())
        messages.push_back(json::object{{"role", "system"}, {"content", t.system_prompt}});
    messages.push_back(json::object{{"role", "user"}, {"content", t.prompt}});
    json::object body{{"model", t.model}, {"messages", std::move(messages)}, {"stream", t.stream}};
    if (t.stream) body["stream_options"] = json::object{{"include_usage", true}};
    if (t.send_metadata) {
        json::object metadata;
        if (t.session_id) metadata["session_id"] = *t.session_id;
        if (t.agent_id) metadata["agent_id"] = *t.agent_id;
        metadata["enable_tools"] = t.enable_tools ? "true" : "false";
        metadata["priority"] = std::to_string(t.priority);
        body["metadata"] = std::move(metadata);
    }
    return json::serialize(body);
}

std::string_view stop_reason_for(std::string_view finish_reason) {
    if (finish_reason == "length") return "max_tokens";
    if (finish_reason == "tool_calls" || finish_reason == "function_call") return "tool_use";
    if (finish_reason == "content_filter") return "refusal";
    return "end_turn";
}

namespace {

// OpenAI usage → the CLI's usage object.
json::object cli_usage(const json::object& usage) {
    long long cached = 0;
    if (const auto* d = usage.if_contains("prompt_tokens_details"); d && d->is_object())
        cached = clamped_count(d->get_object(), "cached_tokens");
    return {{"input_tokens", std::max(0LL, clamped_count(usage, "prompt_tokens") - cached)},
            {"cache_creation_input_tokens", 0},
            {"cache_read_input_tokens", cached},
            {"output_tokens", clamped_count(usage, "completion_tokens")}};
}

} // namespace

boost::system::result<json::object, std::string>
cli_result_from_completion(std::string_view body, std::optional<std::string> header_session,
                           const ShimFields& fields, long long duration_ms) {
    return cli_result_from_answer(
        body, std::move(header_session), fields,
        [duration_ms](const json::object& o, const std::optional<std::string>& session)
            -> boost::system::result<json::object, std::string> {
            const auto* choices = o.if_contains("choices");
            if (!choices || !choices->is_array() || choices->get_array().empty() ||
                !choices->get_array()[0].is_object())
                return std::string("the upstream's response has no choices");
            const auto& choice = choices->get_array()[0].get_object();
            const auto* message = choice.if_contains("message");
            if (!message || !message->is_object())
                return std::string("the upstream's response has no message");
            std::string text;
            if (const auto* c = message->get_object().if_contains("content"); c && c->is_string())
                text = c->get_string();
            std::string finish = "stop";
            if (const auto* f = choice.if_contains("finish_reason"); f && f->is_string())
                finish = f->get_string();
            json::object usage;
            if (const auto* u = o.if_contains("usage"); u && u->is_object()) usage = u->get_object();
            return success_result(text, stop_reason_for(finish), cli_usage(usage), session, duration_ms);
        });
}

void UpstreamStreamTranslator::event(const SseEvent& e, std::vector<StreamEvent>& out) {
    if (e.data == "[DONE]") {
        stop();
        return;
    }
    auto parsed = object_of(e);
    if (!parsed) return;
    const auto& o = *parsed;
    if (o.contains("error")) {
        fail("the upstream reported an error: " + upstream_error_message(json::serialize(o)));
        return;
    }
    if (const auto* u = o.if_contains("usage"); u && u->is_object()) usage_ = u->get_object();
    const auto* choices = o.if_contains("choices");
    if (!choices || !choices->is_array()) return;
    for (const auto& c : choices->get_array()) {
        if (!c.is_object()) continue;
        const auto& choice = c.get_object();
        if (const auto* f = choice.if_contains("finish_reason"); f && f->is_string())
            finish_reason_ = f->get_string();
        const auto* delta = choice.if_contains("delta");
        if (!delta || !delta->is_object()) continue;
        const auto* content = delta->get_object().if_contains("content");
        if (content && content->is_string()) emit_text(content->get_string(), out);
    }
}

json::object UpstreamStreamTranslator::result(long long duration_ms) const {
    return success_result(text(), stop_reason_for(finish_reason_.empty() ? "stop" : finish_reason_),
                          cli_usage(usage_), session(), duration_ms);
}

} // namespace ksid::protocol
