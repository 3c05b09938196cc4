#include "protocol/stream_json.hpp"

#include "protocol/claude_cli.hpp"
#include "protocol/json_parse.hpp"

namespace ksid::protocol {
namespace json = boost::json;

namespace {

std::optional<std::string> session_of(const json::object& o) {
    auto id = string_at(o, "session_id");
    if (id.empty()) id = string_at(o, "sessionId");
    if (id.empty() || !is_valid_session_id(id)) return std::nullopt;
    return std::string(id);
}

} // namespace

void StreamJsonParser::feed(std::string_view bytes, std::vector<StreamEvent>& out) {
    while (!bytes.empty()) {
        const auto nl = bytes.find('\n');
        if (nl == std::string_view::npos) {
            if (pending_.size() + bytes.size() > max_line_) {
                overflowed_ = true;
                pending_.clear();
            } else {
                pending_.append(bytes);
            }
            return;
        }
        if (pending_.empty()) {
            parse_line(bytes.substr(0, nl), out);
        } else {
            pending_.append(bytes.substr(0, nl));
            parse_line(pending_, out);
            pending_.clear();
        }
        bytes.remove_prefix(nl + 1);
    }
}

void StreamJsonParser::finish(std::vector<StreamEvent>& out) {
    if (!pending_.empty()) parse_line(pending_, out);
    pending_.clear();
}

void StreamJsonParser::parse_line(std::string_view line, std::vector<StreamEvent>& out) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.remove_suffix(1);
    if (line.empty()) return;
    auto parsed = parse_json_text(line, 1000);
    if (!parsed || !parsed->is_object()) {
        ++malformed_;
        return;
    }
    json::object& o = parsed->get_object();
    const auto type = string_at(o, "type");
    if (type == "system") {
        if (string_at(o, "subtype") != "init") return;
        StreamEvent e{StreamEvent::Kind::init};
        e.session_id = session_of(o);
        e.object = std::move(o);
        out.push_back(std::move(e));
    } else if (type == "stream_event") {
        const auto* event = object_at(o, "event");
        if (!event) return;
        const auto event_type = string_at(*event, "type");
        if (event_type == "message_start") {
            const auto* message = object_at(*event, "message");
            const auto* usage = message ? object_at(*message, "usage") : nullptr;
            message_usage_ = usage ? *usage : json::object();
            return;
        }
        if (event_type == "message_delta") {
            if (const auto* usage = object_at(*event, "usage"))
                for (const auto& [k, v] : *usage)
                    if (!v.is_null()) message_usage_[k] = v;
            StreamEvent e{StreamEvent::Kind::message_end};
            if (const auto* delta = object_at(*event, "delta")) e.text = std::string(string_at(*delta, "stop_reason"));
            e.object = message_usage_;
            e.session_id = session_of(o);
            out.push_back(std::move(e));
            return;
        }
        if (event_type != "content_block_delta") return;
        const auto* delta = object_at(*event, "delta");
        if (!delta || string_at(*delta, "type") != "text_delta") return;
        StreamEvent e{StreamEvent::Kind::text_delta};
        e.text = std::string(string_at(*delta, "text"));
        e.session_id = session_of(o);
        deltas_since_message_ = true;
        if (!e.text.empty()) out.push_back(std::move(e));
    } else if (type == "assistant") {
        const auto* message = object_at(o, "message");
        const auto* content = message ? message->if_contains("content") : nullptr;
        std::string text;
        if (content && content->is_array()) {
            for (const auto& block : content->get_array()) {
                if (!block.is_object()) continue;
                const auto& b = block.get_object();
                const auto block_type = string_at(b, "type");
                if (block_type == "text") {
                    text += string_at(b, "text");
                } else if (block_type == "tool_use") {
                    StreamEvent tool{StreamEvent::Kind::tool_use};
                    tool.text = std::string(string_at(b, "name"));
                    tool.id = std::string(string_at(b, "id"));
                    if (const auto* input = b.if_contains("input")) tool.input = *input;
                    tool.session_id = session_of(o);
                    out.push_back(std::move(tool));
                }
            }
        }
        if (!text.empty()) {
            StreamEvent e{StreamEvent::Kind::assistant_text};
            e.text = std::move(text);
            e.session_id = session_of(o);
            e.already_streamed = deltas_since_message_;
            out.push_back(std::move(e));
        }
        deltas_since_message_ = false;
    } else if (type == "user") {
        const auto* message = object_at(o, "message");
        const auto* content = message ? message->if_contains("content") : nullptr;
        if (!content || !content->is_array()) return;
        for (const auto& block : content->get_array()) {
            if (!block.is_object() || string_at(block.get_object(), "type") != "tool_result") continue;
            const auto& b = block.get_object();
            StreamEvent e{StreamEvent::Kind::tool_result};
            e.id = std::string(string_at(b, "tool_use_id"));
            if (const auto* c = b.if_contains("content"); c && c->is_string()) {
                e.text = std::string(c->get_string());
            } else if (c && c->is_array()) { // content blocks: their text
                for (const auto& part : c->get_array())
                    if (part.is_object()) e.text += string_at(part.get_object(), "text");
            }
            const auto* err = b.if_contains("is_error");
            e.is_error = err && err->is_bool() && err->get_bool();
            e.session_id = session_of(o);
            out.push_back(std::move(e));
        }
    } else if (type == "control_request") {
        StreamEvent e{StreamEvent::Kind::control_request};
        e.object = std::move(o);
        out.push_back(std::move(e));
    } else if (type == "rate_limit_event") {
        StreamEvent e{StreamEvent::Kind::rate_limit};
        if (const auto* info = object_at(o, "rate_limit_info")) e.object = *info;
        e.session_id = session_of(o);
        out.push_back(std::move(e));
    } else if (type == "result") {
        StreamEvent e{StreamEvent::Kind::result};
        e.session_id = session_of(o);
        e.object = std::move(o);
        out.push_back(std::move(e));
        deltas_since_message_ = false;
    }
}

} // namespace ksid::protocol
