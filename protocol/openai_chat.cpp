#include "protocol/openai_chat.hpp"

#include "protocol/claude_cli.hpp"
#include "protocol/client_tools.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/json_schema_check.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>

namespace ksid::protocol {
namespace json = boost::json;

namespace {

OpenAIError bad(std::string message, std::optional<std::string> param,
                std::optional<std::string> code = std::nullopt) {
    return OpenAIError{400, "invalid_request_error", std::move(message), std::move(param), std::move(code)};
}

// SDKs send metadata values as strings: accept "true"/"false" as well as JSON booleans.
std::optional<bool> flag_of(const json::value& v) {
    if (v.is_bool()) return v.get_bool();
    if (v.is_string()) {
        if (v.get_string() == "true") return true;
        if (v.get_string() == "false") return false;
    }
    return std::nullopt;
}

std::optional<long long> integer_of(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() < (1ull << 62)) return static_cast<long long>(v.get_uint64());
    if (v.is_double() && v.get_double() == static_cast<double>(static_cast<long long>(v.get_double())))
        return static_cast<long long>(v.get_double());
    if (v.is_string()) {
        long long n = 0;
        const auto s = std::string_view(v.get_string());
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc{} && p == s.data() + s.size() && !s.empty()) return n;
    }
    return std::nullopt;
}

// The text of a message's content: a string, null (assistant), or an array of text parts (and, where
// `images` is given, image_url parts).
boost::system::result<std::string, OpenAIError> content_text(const json::value& content,
                                                             const std::string& param, bool null_ok,
                                                             std::vector<ImageInput>* images = nullptr) {
    if (content.is_string()) return std::string(content.get_string());
    if (content.is_null() && null_ok) return std::string();
    if (!content.is_array()) return bad("content must be a string or an array of content parts", param);
    std::string text;
    for (std::size_t i = 0; i < content.get_array().size(); ++i) {
        const auto& part = content.get_array()[i];
        const auto part_param = param + "[" + std::to_string(i) + "]";
        if (!part.is_object()) return bad("content parts must be objects", part_param);
        const auto* type = part.get_object().if_contains("type");
        if (!type || !type->is_string()) return bad("content part has no type", part_param + ".type");
        if (type->get_string() == "image_url" && images) {
            const auto* iu = part.get_object().if_contains("image_url");
            const auto* url = iu && iu->is_object() ? iu->get_object().if_contains("url") : iu;
            if (!url || !url->is_string())
                return bad("image_url parts need an image_url.url string", part_param + ".image_url");
            std::string why;
            auto image = image_from_url(url->get_string(), why);
            if (!image) return bad(why, part_param + ".image_url.url");
            images->push_back(std::move(*image));
            continue;
        }
        if (type->get_string() != "text")
            return bad("content parts of type '" + std::string(type->get_string()) +
                           "' are not supported here: ksid passes text" + (images ? " and images" : "") +
                           " to the claude CLI",
                       part_param + ".type");
        const auto* t = part.get_object().if_contains("text");
        if (!t || !t->is_string())
            return bad("text content parts need a string 'text'", part_param + ".text");
        if (!text.empty()) text += "\n";
        text += t->get_string();
    }
    return text;
}

bool valid_agent_id(std::string_view id) {
    return is_safe_identifier(id);
}

// An assistant message's tool_calls: [{"id","type":"function","function":{"name","arguments"}}], the
// arguments a JSON text (kept as a string when it is not JSON).
std::optional<OpenAIError> parse_tool_calls(const json::value& calls, const std::string& param,
                                            std::vector<ClientToolCall>& out) {
    if (calls.is_null()) return std::nullopt;
    if (!calls.is_array()) return bad("tool_calls must be an array", param);
    for (std::size_t i = 0; i < calls.get_array().size(); ++i) {
        const auto p = param + "[" + std::to_string(i) + "]";
        const auto& c = calls.get_array()[i];
        const auto* o = c.is_object() ? &c.get_object() : nullptr;
        const auto* f = o ? o->if_contains("function") : nullptr;
        if (!o || !f || !f->is_object()) return bad("tool calls need a function object", p + ".function");
        const auto id = string_at(*o, "id");
        const auto name = string_at(f->get_object(), "name");
        if (id.empty() || id.size() > 256) return bad("tool calls need an id", p + ".id");
        if (name.empty()) return bad("tool calls need a function name", p + ".function.name");
        ClientToolCall call{std::string(id), std::string(name), json::object()};
        if (const auto* a = f->get_object().if_contains("arguments"); a && a->is_string()) {
            auto parsed = parse_json_text(a->get_string(), 64);
            call.input = parsed ? std::move(*parsed) : json::value(a->get_string());
        } else if (a && a->is_object()) {
            call.input = *a;
        }
        out.push_back(std::move(call));
    }
    return std::nullopt;
}

} // namespace

json::object openai_error_body(const OpenAIError& e) {
    return {{"error", json::object{{"message", e.message},
                                   {"type", e.type},
                                   {"param", e.param ? json::value(*e.param) : json::value(nullptr)},
                                   {"code", e.code ? json::value(*e.code) : json::value(nullptr)}}}};
}

std::optional<OpenAIError> parse_ksi_extensions(const json::object& o,
                                                std::optional<std::string_view> header_session_id,
                                                ChatRequest& r) {
    auto session_from = [&](const json::value& v, const std::string& param) -> std::optional<OpenAIError> {
        if (v.is_null() || (v.is_string() && v.get_string().empty())) return std::nullopt;
        if (!v.is_string() || !is_valid_session_id(v.get_string()))
            return bad("invalid session id: " + session_id_rules(), param);
        r.session_id = std::string(v.get_string());
        return std::nullopt;
    };
    if (const auto* md = o.if_contains("metadata"); md && !md->is_null()) {
        if (!md->is_object()) return bad("metadata must be an object", std::string("metadata"));
        const auto& m = md->get_object();
        if (const auto* s = m.if_contains("session_id"))
            if (auto e = session_from(*s, "metadata.session_id")) return *e;
        if (const auto* t = m.if_contains("enable_tools"); t && !t->is_null()) {
            auto f = flag_of(*t);
            if (!f) return bad("enable_tools must be true or false", std::string("metadata.enable_tools"));
            r.enable_tools = *f;
        }
        if (const auto* a = m.if_contains("agent_id"); a && !a->is_null()) {
            if (!a->is_string() || !valid_agent_id(a->get_string()))
                return bad("invalid agent_id: letters, digits, '-', '_', '.', ':' (at most 128)",
                           std::string("metadata.agent_id"));
            r.agent_id = std::string(a->get_string());
        }
        if (const auto* p = m.if_contains("priority"); p && !p->is_null()) {
            auto v = integer_of(*p);
            if (!v || *v < 0 || *v > 9)
                return bad("priority must be an integer from 0 to 9", std::string("metadata.priority"));
            r.priority = static_cast<int>(*v);
        }
    }
    if (!r.session_id)
        if (const auto* s = o.if_contains("session_id"))
            if (auto e = session_from(*s, "session_id")) return *e;
    if (!r.session_id && header_session_id && !header_session_id->empty()) {
        if (!is_valid_session_id(*header_session_id))
            return bad("invalid X-Session-Id header", std::string("X-Session-Id"));
        r.session_id = std::string(*header_session_id);
    }
    return std::nullopt;
}

std::string message_with_param(const OpenAIError& e) {
    return e.param ? *e.param + ": " + e.message : e.message;
}

boost::system::result<ChatRequest, OpenAIError>
parse_chat_request(std::string_view body, std::optional<std::string_view> header_session_id) {
    auto parsed = parse_json_text(body, 64);
    if (!parsed)
        return bad("We could not parse the JSON body of your request: " + parsed.error().detail,
                   std::nullopt);
    if (!parsed->is_object()) return bad("The request body must be a JSON object.", std::nullopt);
    const auto& o = parsed->get_object();
    ChatRequest r;

    const auto* model = o.if_contains("model");
    if (!model || !model->is_string() || model->get_string().empty())
        return bad("you must provide a model parameter", std::string("model"));
    r.model = std::string(model->get_string());

    const auto* messages = o.if_contains("messages");
    if (!messages || !messages->is_array() || messages->get_array().empty())
        return bad("messages must be a non-empty array", std::string("messages"));
    for (std::size_t i = 0; i < messages->get_array().size(); ++i) {
        const auto& m = messages->get_array()[i];
        const auto param = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) return bad("each message must be an object", param);
        const auto* role = m.get_object().if_contains("role");
        static const char* roles[] = {"system", "developer", "user", "assistant", "tool"};
        if (!role || !role->is_string() ||
            std::none_of(std::begin(roles), std::end(roles),
                         [&](const char* x) { return role->get_string() == x; }))
            return bad("role must be one of system, developer, user, assistant, tool", param + ".role");
        const auto* content = m.get_object().if_contains("content");
        const bool is_assistant = role->get_string() == "assistant";
        std::vector<ImageInput> images;
        auto text = content_text(content ? *content : json::value(nullptr), param + ".content", is_assistant,
                                 role->get_string() == "user" ? &images : nullptr);
        if (!text) return text.error();
        ChatMessage message{std::string(role->get_string()), std::move(*text)};
        message.images = std::move(images);
        if (const auto* calls = m.get_object().if_contains("tool_calls"); calls && is_assistant)
            if (auto e = parse_tool_calls(*calls, param + ".tool_calls", message.tool_calls)) return *e;
        if (message.role == "tool") {
            const auto id = string_at(m.get_object(), "tool_call_id");
            if (id.empty()) return bad("tool messages need a tool_call_id", param + ".tool_call_id");
            message.tool_call_id = std::string(id);
        }
        r.messages.push_back(std::move(message));
    }
    if (r.messages.back().role == "assistant")
        return bad("the last message must not be an assistant message: there is nothing to answer",
                   "messages[" + std::to_string(r.messages.size() - 1) + "].role");

    if (const auto* stream = o.if_contains("stream"); stream && !stream->is_null()) {
        if (!stream->is_bool()) return bad("stream must be a boolean", std::string("stream"));
        r.stream = stream->get_bool();
    }
    if (const auto* so = o.if_contains("stream_options"); so && so->is_object())
        if (const auto* iu = so->get_object().if_contains("include_usage"); iu && iu->is_bool())
            r.include_usage = iu->get_bool();
    if (const auto* n = o.if_contains("n"); n && !n->is_null()) {
        auto v = integer_of(*n);
        if (!v || *v != 1)
            return bad("n > 1 is not supported: the claude CLI gives one answer", std::string("n"));
    }
    if (const auto* tools = o.if_contains("tools"); tools && !tools->is_null()) {
        auto parsed_tools = parse_openai_tools(*tools);
        if (!parsed_tools) return parsed_tools.error();
        r.tools = std::move(*parsed_tools);
    }
    if (const auto* tc = o.if_contains("tool_choice"); tc && !tc->is_null()) {
        const bool allowed = tc->is_string() && (tc->get_string() == "auto" || tc->get_string() == "none");
        if (!allowed)
            return bad("a forced tool_choice ('required' or a named function) cannot be honoured: the claude CLI "
                       "lets the model decide whether to call a tool; use 'auto', or 'none' for no tools",
                       std::string("tool_choice"));
        if (tc->get_string() == "none") r.tools.clear(); // honoured: the model is not offered them
    }

    if (const auto* rf = o.if_contains("response_format"); rf && !rf->is_null()) {
        const auto* type = rf->is_object() ? rf->get_object().if_contains("type") : nullptr;
        if (!type || !type->is_string())
            return bad("response_format must be an object with a type", std::string("response_format"));
        if (type->get_string() == "json_object") {
            if (auto e = parse_output_schema(json::object{{"type", "object"}}, "response_format", r)) return *e;
        } else if (type->get_string() == "json_schema") {
            const auto* js = rf->get_object().if_contains("json_schema");
            const auto* schema = js && js->is_object() ? js->get_object().if_contains("schema") : nullptr;
            if (!schema) return bad("json_schema.schema is required", std::string("response_format.json_schema.schema"));
            if (auto e = parse_output_schema(*schema, "response_format.json_schema.schema", r)) return *e;
        } else if (type->get_string() != "text") {
            return bad("response_format type must be text, json_object or json_schema", std::string("response_format.type"));
        }
    }

    if (auto e = parse_ksi_extensions(o, header_session_id, r)) return *e;
    return r;
}

std::optional<OpenAIError> parse_output_schema(const json::value& schema, const std::string& param, ChatRequest& r) {
    if (!schema.is_object()) return bad("the schema must be a JSON Schema object", param);
    if (json::serialize(schema).size() > 64 * 1024) return bad("the schema is limited to 64 KiB", param);
    auto check = JsonSchemaCheck::compile(schema);
    if (!check) return bad(check.error(), param);
    r.output_schema = schema;
    return std::nullopt;
}

namespace {

// One message of a conversation replayed as text: its role, its text, the tool calls it made, or the call
// its result answers.
std::string message_transcript(const ChatMessage& m) {
    std::string out;
    if (m.role == "tool") {
        out = "Tool result" + (m.tool_call_id.empty() ? std::string() : " for call " + m.tool_call_id) +
              (m.is_error ? " (error)" : "") + ": " + m.text;
        return out;
    }
    out = m.role == "assistant" ? "Assistant: " : "User: ";
    out += m.text;
    for (const auto& c : m.tool_calls)
        out += (m.text.empty() && &c == &m.tool_calls.front() ? "" : "\n") + std::string("(called tool ") + c.name +
               " as call " + c.id + " with " + json::serialize(c.input) + ")";
    return out;
}

} // namespace

RenderedPrompt render_chat_prompt(const ChatRequest& request) {
    RenderedPrompt out;
    for (const auto& m : request.messages)
        if (m.role == "system" || m.role == "developer") {
            if (!out.system_prompt.empty()) out.system_prompt += "\n\n";
            out.system_prompt += m.text;
        }
    std::vector<const ChatMessage*> turns;
    for (const auto& m : request.messages)
        if (m.role != "system" && m.role != "developer") turns.push_back(&m);
    if (request.session_id) { // the session already holds everything up to the last assistant answer
        std::size_t start = 0;
        for (std::size_t i = 0; i < turns.size(); ++i)
            if (turns[i]->role == "assistant") start = i + 1;
        for (std::size_t i = start; i < turns.size(); ++i) {
            if (!out.prompt.empty()) out.prompt += "\n\n";
            out.prompt += turns[i]->role == "tool" ? message_transcript(*turns[i]) : turns[i]->text;
            out.images.insert(out.images.end(), turns[i]->images.begin(), turns[i]->images.end());
        }
        return out;
    }
    if (turns.size() == 1) {
        out.prompt = turns[0]->text;
        out.images = turns[0]->images;
        return out;
    }
    for (const auto* m : turns) {
        if (!out.prompt.empty()) out.prompt += "\n\n";
        out.prompt += message_transcript(*m);
        out.images.insert(out.images.end(), m->images.begin(), m->images.end());
    }
    return out;
}

namespace {
bool is_system(const ChatMessage& m) { return m.role == "system" || m.role == "developer"; }
} // namespace

std::vector<ClientToolResult> trailing_tool_results(const ChatRequest& request) {
    std::vector<ClientToolResult> out;
    std::string beside;
    for (std::size_t i = request.messages.size(); i-- > 0;) {
        const auto& m = request.messages[i];
        if (is_system(m)) continue; // Claude Code sends a system message after the conversation
        if (m.role == "user" && m.beside_tool_results && out.empty()) {
            beside = m.text + (beside.empty() ? "" : "\n" + beside);
            continue;
        }
        if (m.role != "tool") break;
        out.insert(out.begin(), ClientToolResult{m.tool_call_id, m.text, m.is_error, m.images});
    }
    if (!out.empty() && !beside.empty()) out.back().content += "\n\n" + beside;
    return out;
}

const ChatMessage* message_before_tool_results(const ChatRequest& request) {
    for (std::size_t i = request.messages.size(); i-- > 0;) {
        const auto& m = request.messages[i];
        if (!is_system(m) && m.role != "tool" && !m.beside_tool_results) return &m;
    }
    return nullptr;
}

long long usage_count(const json::value& cli_usage, std::string_view key) {
    if (!cli_usage.is_object()) return 0;
    const auto* v = cli_usage.get_object().if_contains(key);
    if (!v) return 0;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<long long>(v->get_uint64());
    if (v->is_double()) return static_cast<long long>(v->get_double());
    return 0;
}

json::object openai_usage(const json::value& cli_usage) {
    auto field = [&](const char* key) { return usage_count(cli_usage, key); };
    const long long cached = field("cache_read_input_tokens");
    const long long prompt = field("input_tokens") + field("cache_creation_input_tokens") + cached;
    const long long completion = field("output_tokens");
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", json::object{{"cached_tokens", cached}}}};
}

std::string_view finish_reason_for(std::string_view stop_reason) {
    return stop_reason == "max_tokens" ? "length" : "stop";
}

json::object chat_completion_body(std::string_view id, long long created, std::string_view model,
                                  std::string_view content, std::string_view finish_reason,
                                  const json::value& cli_usage, const std::vector<ClientToolCall>& tool_calls) {
    json::object message{{"role", "assistant"}, {"content", content}};
    if (!tool_calls.empty()) {
        json::array calls;
        for (const auto& c : tool_calls)
            calls.push_back(json::object{{"id", c.id},
                                         {"type", "function"},
                                         {"function", json::object{{"name", c.name}, {"arguments", json::serialize(c.input)}}}});
        message["tool_calls"] = std::move(calls);
        if (content.empty()) message["content"] = nullptr;
        finish_reason = "tool_calls";
    }
    return {{"id", id},
            {"object", "chat.completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array{json::object{{"index", 0},
                                                 {"message", std::move(message)},
                                                 {"finish_reason", finish_reason},
                                                 {"logprobs", nullptr}}}},
            {"usage", openai_usage(cli_usage)},
            {"session_id", id}};
}

json::object chat_tool_call_delta(std::size_t index, const ClientToolCall& c) {
    const json::object function{{"name", c.name}, {"arguments", json::serialize(c.input)}};
    return {{"tool_calls", json::array{json::object{{"index", index}, {"id", c.id}, {"type", "function"},
                                                    {"function", function}}}}};
}

json::object chat_chunk_body(std::string_view id, long long created, std::string_view model,
                             const json::object& delta, std::optional<std::string_view> finish_reason) {
    return {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", model},
            {"choices", json::array{json::object{{"index", 0},
                                                 {"delta", delta},
                                                 {"finish_reason", finish_reason ? json::value(*finish_reason)
                                                                                 : json::value(nullptr)},
                                                 {"logprobs", nullptr}}}},
            {"usage", nullptr}};
}

json::object chat_usage_chunk_body(std::string_view id, long long created, std::string_view model,
                                   const json::value& cli_usage) {
    return {{"id", id},       {"object", "chat.completion.chunk"}, {"created", created},
            {"model", model}, {"choices", json::array()},          {"usage", openai_usage(cli_usage)}};
}

std::string sse_event(const json::value& body) {
    std::string out = "data: ";
    out += json::serialize(body);
    out += "\n\n";
    return out;
}

json::object model_body(std::string_view id, long long created) {
    return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "anthropic"}};
}

json::object model_list_body(const std::vector<std::string>& ids, long long created) {
    json::array data;
    for (const auto& id : ids)
        data.push_back(model_body(id, created));
    return {{"object", "list"}, {"data", std::move(data)}};
}

} // namespace ksid::protocol
