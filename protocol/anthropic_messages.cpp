#include "protocol/anthropic_messages.hpp"

#include "protocol/client_tools.hpp"
#include "protocol/json_parse.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <cctype>

namespace ksid::protocol {
namespace json = boost::json;

namespace {

OpenAIError bad(std::string message, std::optional<std::string> param = std::nullopt) {
    return OpenAIError{400, "invalid_request_error", std::move(message), std::move(param), std::nullopt};
}

std::string at(std::string_view path, std::size_t i) {
    return std::string(path) + "." + std::to_string(i);
}

const json::string* string_field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? &v->get_string() : nullptr;
}

// Text blocks: {"type":"text","text":...} (cache_control and citations are ignored).
boost::system::result<std::string, OpenAIError> text_of_block(const json::object& block,
                                                              const std::string& param) {
    const auto* t = string_field(block, "text");
    if (!t) return bad("text blocks need a string 'text'", param + ".text");
    return std::string(*t);
}

// A string or an array of text blocks (system prompts, tool results; a tool result's base64 images go to
// `images` where it is given).
boost::system::result<std::string, OpenAIError> text_content(const json::value& v, const std::string& param,
                                                             std::string_view separator,
                                                             std::vector<ImageInput>* images = nullptr) {
    if (v.is_string()) return std::string(v.get_string());
    if (!v.is_array()) return bad("must be a string or an array of text blocks", param);
    std::string out;
    const auto& blocks = v.get_array();
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const auto p = at(param, i);
        if (!blocks[i].is_object()) return bad("content blocks must be objects", p);
        const auto* type = string_field(blocks[i].get_object(), "type");
        if (type && *type == "image" && images) {
            const auto* source = blocks[i].get_object().if_contains("source");
            std::string why;
            auto image = source && source->is_object() ? image_from_source(source->get_object(), why) : std::nullopt;
            if (!image) return bad(why.empty() ? "image blocks need a source object" : why, p + ".source");
            if (!image->url.empty()) return bad("a tool result's images must be base64", p + ".source");
            images->push_back(std::move(*image));
            continue;
        }
        if (!type || *type != "text")
            return bad("only text blocks are supported here: ksid passes text to the claude CLI",
                       p + ".type");
        auto text = text_of_block(blocks[i].get_object(), p);
        if (!text) return text.error();
        if (!out.empty()) out += separator;
        out += *text;
    }
    return out;
}

// One message's content blocks as ChatMessages: text (and the assistant's tool calls, written out) keep
// the message's role; each tool_result becomes a "tool" message; thinking is the model's own and skipped.
std::optional<OpenAIError> append_message(std::string_view role, const json::value& content,
                                          const std::string& param, std::vector<ChatMessage>& out) {
    if (content.is_string()) {
        out.push_back({std::string(role), std::string(content.get_string())});
        return std::nullopt;
    }
    if (!content.is_array()) return bad("content must be a string or an array of content blocks", param);
    std::string text;
    bool has_text = false;
    std::vector<ClientToolCall> calls;
    std::vector<ImageInput> images;
    bool after_tool_result = false;
    auto flush = [&] {
        if (has_text || !calls.empty() || !images.empty()) {
            ChatMessage m{std::string(role), std::move(text)};
            m.tool_calls = std::move(calls);
            m.images = std::move(images);
            m.beside_tool_results = after_tool_result;
            out.push_back(std::move(m));
        }
        text.clear();
        calls.clear();
        images.clear();
        has_text = false;
    };
    const auto& blocks = content.get_array();
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const auto p = at(param, i);
        if (!blocks[i].is_object()) return bad("content blocks must be objects", p);
        const auto& block = blocks[i].get_object();
        const auto* type = string_field(block, "type");
        if (!type) return bad("content block has no type", p + ".type");
        if (*type == "text") {
            auto t = text_of_block(block, p);
            if (!t) return t.error();
            if (has_text) text += "\n";
            text += *t;
            has_text = true;
        } else if (*type == "image" && role == "user") {
            const auto* source = block.if_contains("source");
            if (!source || !source->is_object()) return bad("image blocks need a source object", p + ".source");
            std::string why;
            auto image = image_from_source(source->get_object(), why);
            if (!image) return bad(why, p + ".source");
            images.push_back(std::move(*image));
        } else if (*type == "thinking" || *type == "redacted_thinking") {
            if (role != "assistant") return bad("thinking blocks belong to assistant messages", p + ".type");
        } else if (*type == "tool_use" && role == "assistant") {
            const auto* name = string_field(block, "name");
            if (!name) return bad("tool_use blocks need a string 'name'", p + ".name");
            const auto* id = string_field(block, "id");
            if (!id || id->empty() || id->size() > 256) return bad("tool_use blocks need a string 'id'", p + ".id");
            const auto* input = block.if_contains("input");
            calls.push_back({std::string(*id), std::string(*name), input ? *input : json::value(json::object())});
        } else if (*type == "tool_result" && role == "user") {
            flush();
            ChatMessage result{"tool", {}};
            if (const auto* c = block.if_contains("content"); c && !c->is_null()) {
                auto r = text_content(*c, p + ".content", "\n", &result.images);
                if (!r) return r.error();
                result.text = std::move(*r);
            }
            const auto* id = string_field(block, "tool_use_id");
            if (!id || id->empty()) return bad("tool_result blocks need a string 'tool_use_id'", p + ".tool_use_id");
            result.tool_call_id = std::string(*id);
            const auto* is_error = block.if_contains("is_error");
            result.is_error = is_error && is_error->is_bool() && is_error->get_bool();
            out.push_back(std::move(result));
            after_tool_result = true;
        } else {
            return bad("content blocks of type '" + std::string(*type) + "' are not supported in " +
                           std::string(role) + " messages: ksid passes text to the claude CLI",
                       p + ".type");
        }
    }
    flush();
    return std::nullopt;
}

bool is_number_or_null(const json::value* v) {
    return !v || v->is_null() || v->is_number();
}

} // namespace

boost::system::result<MessagesRequest, OpenAIError>
parse_messages_request(std::string_view body, std::optional<std::string_view> header_session_id,
                       MessagesEndpoint endpoint) {
    auto parsed = parse_json_text(body, 64);
    if (!parsed) return bad("The request body is not valid JSON: " + parsed.error().detail);
    if (!parsed->is_object()) return bad("The request body must be a JSON object.");
    const auto& o = parsed->get_object();
    MessagesRequest req;
    ChatRequest& r = req.chat;

    const auto* model = string_field(o, "model");
    if (!model || model->empty()) return bad("Field required", std::string("model"));
    r.model = std::string(*model);

    if (endpoint == MessagesEndpoint::create) {
        const auto* max_tokens = o.if_contains("max_tokens");
        if (!max_tokens) return bad("Field required", std::string("max_tokens"));
        if (!max_tokens->is_int64() && !max_tokens->is_uint64())
            return bad("Input should be a valid integer", std::string("max_tokens"));
        if (max_tokens->is_int64() && max_tokens->get_int64() < 1)
            return bad("Input should be greater than or equal to 1", std::string("max_tokens"));
        req.max_tokens = max_tokens->is_int64() ? max_tokens->get_int64() : (1ll << 62);
    }

    if (const auto* system = o.if_contains("system"); system && !system->is_null()) {
        auto text = text_content(*system, "system", "\n\n");
        if (!text) return text.error();
        req.text_bytes += text->size();
        if (!text->empty()) r.messages.push_back({"system", std::move(*text)});
    }

    const auto* messages = o.if_contains("messages");
    if (!messages || !messages->is_array() || messages->get_array().empty())
        return bad("Input should be a non-empty list", std::string("messages"));
    const auto& list = messages->get_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto param = at("messages", i);
        if (!list[i].is_object()) return bad("each message must be an object", param);
        const auto& m = list[i].get_object();
        const auto* role = string_field(m, "role");
        if (!role || (*role != "user" && *role != "assistant" && *role != "system"))
            return bad("Input should be 'user', 'assistant' or 'system'", param + ".role");
        const auto* content = m.if_contains("content");
        if (!content) return bad("Field required", param + ".content");
        if (*role == "system") { // Claude Code sends one after the conversation: more system prompt
            auto text = text_content(*content, param + ".content", "\n\n");
            if (!text) return text.error();
            req.text_bytes += text->size();
            if (!text->empty()) r.messages.push_back({"system", std::move(*text)});
            continue;
        }
        const auto before = r.messages.size();
        if (auto e = append_message(*role, *content, param + ".content", r.messages)) return *e;
        for (std::size_t k = before; k < r.messages.size(); ++k)
            req.text_bytes += r.messages[k].text.size();
    }
    // The last message that is not a system message must not be the assistant's.
    for (std::size_t i = list.size(); i-- > 0;) {
        const auto* role = string_field(list[i].get_object(), "role");
        if (*role == "system") continue;
        if (endpoint == MessagesEndpoint::create && *role == "assistant")
            return bad(
                "a final assistant message (prefill) is not supported: the claude CLI cannot continue it",
                at("messages", i) + ".role");
        break;
    }

    if (const auto* stream = o.if_contains("stream"); stream && !stream->is_null()) {
        if (!stream->is_bool()) return bad("Input should be a valid boolean", std::string("stream"));
        r.stream = stream->get_bool();
    }
    for (const char* key : {"temperature", "top_p", "top_k"})
        if (!is_number_or_null(o.if_contains(key)))
            return bad("Input should be a valid number", std::string(key));
    if (const auto* stops = o.if_contains("stop_sequences"); stops && !stops->is_null()) {
        if (!stops->is_array()) return bad("Input should be a valid list", std::string("stop_sequences"));
        for (std::size_t i = 0; i < stops->get_array().size(); ++i)
            if (!stops->get_array()[i].is_string())
                return bad("Input should be a valid string", at("stop_sequences", i));
    }
    if (const auto* tools = o.if_contains("tools"); tools && !tools->is_null()) {
        if (!tools->is_array()) return bad("Input should be a valid list", std::string("tools"));
        req.text_bytes += json::serialize(*tools).size();
        auto parsed_tools = parse_anthropic_tools(*tools);
        if (!parsed_tools) return parsed_tools.error();
        r.tools = std::move(*parsed_tools);
    }
    if (const auto* tc = o.if_contains("tool_choice"); tc && !tc->is_null()) {
        const auto* type = tc->is_object() ? string_field(tc->get_object(), "type") : nullptr;
        if (!type) return bad("tool_choice must be an object with a type", std::string("tool_choice"));
        if (*type != "auto" && *type != "none")
            return bad("a forced tool_choice ('" + std::string(*type) +
                           "') cannot be honoured: the claude CLI lets the model decide whether to call a "
                           "tool; use 'auto', or 'none' for no tools",
                       std::string("tool_choice.type"));
        if (*type == "none") r.tools.clear(); // honoured: the model is not offered them
    }
    if (const auto* thinking = o.if_contains("thinking");
        thinking && !thinking->is_null() && !thinking->is_object())
        return bad("Input should be an object", std::string("thinking"));
    if (const auto* md = o.if_contains("metadata"); md && !md->is_null()) {
        if (!md->is_object()) return bad("Input should be an object", std::string("metadata"));
        if (const auto* user = md->get_object().if_contains("user_id"); user && !user->is_null()) {
            if (!user->is_string() || user->get_string().size() > 256)
                return bad("Input should be a string of at most 256 characters",
                           std::string("metadata.user_id"));
        }
    }
    // Structured outputs: output_format (the beta) or output_config.format, {"type":"json_schema","schema"}.
    const json::value* format = o.if_contains("output_format");
    std::string format_param = "output_format";
    if (const auto* oc = o.if_contains("output_config"); (!format || format->is_null()) && oc && oc->is_object()) {
        format = oc->get_object().if_contains("format");
        format_param = "output_config.format";
    }
    if (format && !format->is_null()) {
        const auto* type = format->is_object() ? string_field(format->get_object(), "type") : nullptr;
        if (!type || *type != "json_schema") return bad("the output format must be of type json_schema", format_param + ".type");
        const auto* schema = format->get_object().if_contains("schema");
        if (!schema) return bad("Field required", format_param + ".schema");
        if (auto e = parse_output_schema(*schema, format_param + ".schema", r)) return *e;
    }
    if (auto e = parse_ksi_extensions(o, header_session_id, r)) return *e;
    return req;
}

long long estimate_input_tokens(const MessagesRequest& request) {
    const auto tokens = static_cast<long long>((request.text_bytes + 3) / 4);
    return tokens < 1 ? 1 : tokens;
}

std::string_view anthropic_error_type(int status) {
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 504:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

int anthropic_status(int status) {
    return status == 503 ? 529 : status;
}

json::object anthropic_error_body(const OpenAIError& e) {
    std::string message = message_with_param(e);
    return {{"type", "error"},
            {"error", json::object{{"type", anthropic_error_type(anthropic_status(e.status))},
                                   {"message", std::move(message)}}}};
}

json::object anthropic_usage(const json::value& cli_usage) {
    auto field = [&](const char* key) { return usage_count(cli_usage, key); };
    return {{"input_tokens", field("input_tokens")},
            {"cache_creation_input_tokens", field("cache_creation_input_tokens")},
            {"cache_read_input_tokens", field("cache_read_input_tokens")},
            {"output_tokens", field("output_tokens")}};
}

std::string_view anthropic_stop_reason(std::string_view s) {
    for (std::string_view known : {"end_turn", "max_tokens", "stop_sequence", "pause_turn", "refusal"})
        if (s == known) return known;
    return "end_turn";
}

json::object message_body(std::string_view id, std::string_view model, std::string_view text,
                          std::string_view stop_reason, const json::value& cli_usage,
                          std::optional<std::string_view> session_id,
                          const std::vector<ClientToolCall>& tool_calls) {
    json::array content;
    if (!text.empty()) content.push_back(json::object{{"type", "text"}, {"text", text}});
    for (const auto& c : tool_calls)
        content.push_back(json::object{{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", c.input}});
    json::object body{{"id", id},
                      {"type", "message"},
                      {"role", "assistant"},
                      {"model", model},
                      {"content", std::move(content)},
                      {"stop_reason", tool_calls.empty() ? anthropic_stop_reason(stop_reason) : "tool_use"},
                      {"stop_sequence", nullptr},
                      {"usage", anthropic_usage(cli_usage)}};
    if (session_id) body["session_id"] = *session_id;
    return body;
}

std::string named_sse_event(std::string_view name, const json::value& data) {
    std::string out = "event: ";
    out += name;
    out += "\ndata: ";
    out += json::serialize(data);
    out += "\n\n";
    return out;
}

std::string MessageStreamEncoder::start() {
    json::object message = message_body(id_, model_, "", "end_turn", json::object(), std::nullopt);
    message["stop_reason"] = nullptr; // not known yet
    if (session_) message["session_id"] = *session_;
    return named_sse_event("message_start",
                           json::object{{"type", "message_start"}, {"message", std::move(message)}});
}

std::string MessageStreamEncoder::text(std::string_view delta) {
    std::string out;
    if (delta.empty()) return out;
    if (!open_) {
        out = named_sse_event("content_block_start",
                              json::object{{"type", "content_block_start"},
                                           {"index", next_index_},
                                           {"content_block", json::object{{"type", "text"}, {"text", ""}}}});
        open_ = true;
        ++next_index_;
    }
    out += named_sse_event("content_block_delta",
                           json::object{{"type", "content_block_delta"},
                                        {"index", next_index_ - 1},
                                        {"delta", json::object{{"type", "text_delta"}, {"text", delta}}}});
    return out;
}

std::string MessageStreamEncoder::end_block() {
    if (!open_) return {};
    open_ = false;
    return named_sse_event("content_block_stop",
                           json::object{{"type", "content_block_stop"}, {"index", next_index_ - 1}});
}

std::string MessageStreamEncoder::whole_text(std::string_view text) {
    std::string out = end_block();
    out += this->text(text);
    out += end_block();
    return out;
}

std::string MessageStreamEncoder::ping() {
    return named_sse_event("ping", json::object{{"type", "ping"}});
}

std::string MessageStreamEncoder::finish(std::string_view fallback_text, std::string_view cli_stop_reason,
                                         const json::value& cli_usage, const json::object* ksid_result,
                                         const std::vector<ClientToolCall>& tool_calls) {
    std::string out = end_block();
    if (next_index_ == 0) out += whole_text(fallback_text);
    for (const auto& c : tool_calls) { // the whole input in one delta, as the API may send it
        const json::object block{{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", json::object()}};
        out += named_sse_event("content_block_start", json::object{{"type", "content_block_start"},
                                                                   {"index", next_index_},
                                                                   {"content_block", block}});
        const json::object delta{{"type", "input_json_delta"}, {"partial_json", json::serialize(c.input)}};
        out += named_sse_event("content_block_delta",
                               json::object{{"type", "content_block_delta"}, {"index", next_index_}, {"delta", delta}});
        out += named_sse_event("content_block_stop", json::object{{"type", "content_block_stop"}, {"index", next_index_}});
        ++next_index_;
    }
    const std::string_view stop_reason = tool_calls.empty() ? anthropic_stop_reason(cli_stop_reason) : "tool_use";
    json::object delta{{"type", "message_delta"},
                       {"delta", json::object{{"stop_reason", stop_reason},
                                              {"stop_sequence", nullptr}}},
                       {"usage", anthropic_usage(cli_usage)}};
    if (ksid_result) delta["ksid_result"] = *ksid_result;
    out += named_sse_event("message_delta", delta);
    out += named_sse_event("message_stop", json::object{{"type", "message_stop"}});
    return out;
}

std::string MessageStreamEncoder::error(const OpenAIError& e) {
    return named_sse_event("error", anthropic_error_body(e));
}

json::object anthropic_model_body(std::string_view id, std::string_view created_at) {
    return {
        {"type", "model"}, {"id", id}, {"display_name", model_display_name(id)}, {"created_at", created_at}};
}

json::object anthropic_model_list_body(const std::vector<std::string>& ids, std::string_view created_at) {
    json::array data;
    for (const auto& id : ids)
        data.push_back(anthropic_model_body(id, created_at));
    return {{"data", std::move(data)},
            {"has_more", false},
            {"first_id", ids.empty() ? json::value(nullptr) : json::value(ids.front())},
            {"last_id", ids.empty() ? json::value(nullptr) : json::value(ids.back())}};
}

std::string model_display_name(std::string_view id) {
    const bool alias = !id.empty() && id.find_first_of("-.:[]0123456789") == std::string_view::npos;
    if (!alias) return std::string(id);
    std::string name = "Claude ";
    name += static_cast<char>(std::toupper(static_cast<unsigned char>(id[0])));
    name += id.substr(1);
    return name;
}

} // namespace ksid::protocol
