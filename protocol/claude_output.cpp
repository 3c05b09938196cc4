#include "protocol/claude_output.hpp"

#include "protocol/json_parse.hpp"
#include "protocol/legacy_request.hpp"
#include "protocol/python_format.hpp"
#include "protocol/utf8.hpp"
#include "protocol/claude_cli.hpp"

#include <cstdio>

namespace ksid::protocol {
namespace json = boost::json;

std::string python_utf8_error(std::string_view bytes) {
    // Find the first offending byte the way the strict decoder reports it.
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        std::size_t len = 1;
        const auto c = static_cast<unsigned char>(bytes[pos]);
        if (c >= 0xF0) len = 4;
        else if (c >= 0xE0) len = 3;
        else if (c >= 0xC0) len = 2;
        if (pos + len <= bytes.size() && is_valid_utf8(bytes.substr(pos, len))) {
            pos += len;
            continue;
        }
        break;
    }
    const auto c = pos < bytes.size() ? static_cast<unsigned char>(bytes[pos]) : 0;
    const char* reason = (c >= 0x80 && c < 0xC2) || c > 0xF4 ? "invalid start byte" : "invalid continuation byte";
    char buf[160];
    std::snprintf(buf, sizeof buf, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s", c, pos, reason);
    return buf;
}

ClaudeJsonOutput parse_claude_json_output(std::string_view stdout_bytes) {
    ClaudeJsonOutput r;
    if (!is_valid_utf8(stdout_bytes)) {
        r.kind = ClaudeJsonOutput::Kind::bad_utf8;
        r.parse_error = "UnicodeDecodeError: " + python_utf8_error(stdout_bytes);
        return r;
    }
    const auto text = strip_python_whitespace(stdout_bytes);
    if (text.empty()) {
        r.kind = ClaudeJsonOutput::Kind::empty;
        return r;
    }
    auto parsed = parse_json_text(text);
    if (!parsed) {
        r.kind = ClaudeJsonOutput::Kind::invalid;
        r.parse_error = parsed.error().detail;
        return r;
    }
    if (!parsed->is_object()) {
        r.kind = ClaudeJsonOutput::Kind::non_object;
        r.value = std::move(*parsed);
        return r;
    }
    r.kind = ClaudeJsonOutput::Kind::object;
    r.output = std::move(parsed->get_object());
    const json::value* id = r.output.if_contains("sessionId");
    if (!id || !python_truthy(*id)) id = r.output.if_contains("session_id");
    if (id && python_truthy(*id)) {
        if (id->is_string() && is_valid_session_id(id->get_string())) r.session_id = std::string(id->get_string());
        else r.session_id_rejected = true;
    }
    return r;
}

json::object sync_spawn_result(const ClaudeJsonOutput& parsed, std::string_view stderr_text, int returncode,
                               std::string_view stdout_bytes) {
    using Kind = ClaudeJsonOutput::Kind;
    json::object r;
    auto add_stderr = [&] {
        if (!stderr_text.empty()) r["stderr"] = is_valid_utf8(stderr_text) ? json::string(stderr_text) : json::string("<stderr is not UTF-8>");
    };
    switch (parsed.kind) {
    case Kind::object:
        r = parsed.output;
        add_stderr();
        break;
    case Kind::empty:
        r["error"] = "No output from claude";
        r["returncode"] = returncode;
        add_stderr();
        break;
    case Kind::invalid: {
        r["error"] = "Invalid JSON from claude: " + parsed.parse_error;
        r["returncode"] = returncode;
        // the first 1000 characters (code points), as Python slices the decoded text
        std::size_t cut = 0, count = 0;
        while (cut < stdout_bytes.size() && count < 1000) {
            ++cut;
            while (cut < stdout_bytes.size() && (static_cast<unsigned char>(stdout_bytes[cut]) & 0xC0) == 0x80) ++cut;
            ++count;
        }
        r["raw_stdout"] = stdout_bytes.substr(0, cut);
        add_stderr();
        break;
    }
    case Kind::non_object:
        r["error"] = "AttributeError: '" + std::string(python_type_name(parsed.value)) + "' object has no attribute 'get'";
        r["returncode"] = -1;
        break;
    case Kind::bad_utf8:
        r["error"] = parsed.parse_error;
        r["returncode"] = -1;
        break;
    }
    return r;
}

json::object human_log_line(std::string_view timestamp, std::string_view prompt, const json::value* process_id,
                            const json::value* agent_id) {
    json::object line{{"timestamp", timestamp}, {"type", "human"}, {"content", prompt}};
    if (process_id) line["process_id"] = *process_id;
    if (agent_id) line["agent_id"] = *agent_id;
    return line;
}

json::object claude_log_line(const json::object& output, std::string_view timestamp) {
    json::object line = output;
    line["timestamp"] = timestamp;
    line["type"] = "claude"; // keeps its position when "type" existed
    return line;
}

long long usage_count(const boost::json::object& usage, std::string_view key) {
    const auto* v = usage.if_contains(key);
    if (!v) return 0;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<long long>(v->get_uint64());
    if (v->is_double()) return static_cast<long long>(v->get_double());
    return 0;
}

} // namespace ksid::protocol
