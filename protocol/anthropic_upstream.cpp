#include "protocol/anthropic_upstream.hpp"

#include "protocol/json_parse.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace ksid::protocol {
namespace json = boost::json;

std::string anthropic_target(std::string_view base_path) {
    const bool has_v1 = base_path.size() >= 3 && base_path.substr(base_path.size() - 3) == "/v1";
    return std::string(base_path) + (has_v1 ? "" : "/v1") + "/messages";
}

std::vector<std::pair<std::string, std::string>> anthropic_headers(std::string_view api_key) {
    std::vector<std::pair<std::string, std::string>> h;
    if (!api_key.empty()) h.emplace_back("x-api-key", std::string(api_key));
    h.emplace_back("anthropic-version", std::string(anthropic_version));
    return h;
}

std::string anthropic_request_body(const UpstreamTurn& t) {
    json::array content{json::object{{"type", "text"}, {"text", t.prompt}}};
    json::object body{
        {"model", t.model},
        {"max_tokens", t.max_tokens},
        {"messages", json::array{json::object{{"role", "user"}, {"content", std::move(content)}}}},
        {"stream", t.stream}};
    if (!t.system_prompt.empty()) body["system"] = t.system_prompt;
    json::object metadata;
    if (t.agent_id) metadata["user_id"] = *t.agent_id;
    if (t.send_metadata) {
        if (t.session_id) {
            body["session_id"] = *t.session_id;
            metadata["session_id"] = *t.session_id;
        }
        if (t.agent_id) metadata["agent_id"] = *t.agent_id;
        metadata["enable_tools"] = t.enable_tools ? "true" : "false";
        metadata["priority"] = std::to_string(t.priority);
    }
    if (!metadata.empty()) body["metadata"] = std::move(metadata);
    return json::serialize(body);
}

namespace {

constexpr const char* counters[] = {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
                                    "output_tokens"};

// Anthropic's usage is already the CLI's: kept as it is, the token counters clamped and always present.
json::object cli_usage(json::object usage) {
    for (const char* key : counters)
        usage[key] = clamped_count(usage, key);
    return usage;
}

} // namespace

boost::system::result<json::object, std::string>
cli_result_from_message(std::string_view body, std::optional<std::string> header_session,
                        const ShimFields& fields, long long duration_ms) {
    return cli_result_from_answer(
        body, std::move(header_session), fields,
        [duration_ms](const json::object& o, const std::optional<std::string>& session)
            -> boost::system::result<json::object, std::string> {
            const auto* content = o.if_contains("content");
            if (string_at(o, "type") != "message" || !content || !content->is_array())
                return std::string("the upstream's response is not a message");
            std::string text;
            for (const auto& block : content->get_array())
                if (block.is_object() && string_at(block.get_object(), "type") == "text")
                    text += string_at(block.get_object(), "text");
            std::string_view stop = string_at(o, "stop_reason");
            const auto* usage = object_at(o, "usage");
            return success_result(text, stop.empty() ? "end_turn" : stop,
                                  cli_usage(usage ? *usage : json::object{}), session, duration_ms);
        });
}

void AnthropicStreamTranslator::event(const SseEvent& e, std::vector<StreamEvent>& out) {
    auto parsed = object_of(e);
    if (!parsed) return;
    const auto& o = *parsed;
    std::string_view type = string_at(o, "type");
    if (type.empty()) type = e.event;
    if (type == "message_start") {
        if (const auto* message = object_at(o, "message"))
            if (const auto* usage = object_at(*message, "usage")) usage_ = *usage;
    } else if (type == "content_block_start") {
        if (const auto* block = object_at(o, "content_block"); block && string_at(*block, "type") == "text")
            emit_text(string_at(*block, "text"), out);
    } else if (type == "content_block_delta") {
        if (const auto* delta = object_at(o, "delta"); delta && string_at(*delta, "type") == "text_delta")
            emit_text(string_at(*delta, "text"), out);
    } else if (type == "message_delta") {
        if (const auto* delta = object_at(o, "delta"))
            if (auto stop = string_at(*delta, "stop_reason"); !stop.empty()) stop_reason_ = stop;
        if (const auto* usage = object_at(o, "usage"))
            for (const auto& [key, value] : *usage)
                usage_[key] = value;
    } else if (type == "message_stop") {
        stop();
    } else if (type == "error") {
        fail("the upstream reported an error: " + upstream_error_message(json::serialize(o)));
    } // ping, content_block_stop and event types added later: nothing to do
}

json::object AnthropicStreamTranslator::result(long long duration_ms) const {
    return success_result(text(), stop_reason_.empty() ? "end_turn" : stop_reason_, cli_usage(usage_),
                          session(), duration_ms);
}

} // namespace ksid::protocol
