#include "protocol/legacy_request.hpp"

#include "protocol/command_table.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/python_format.hpp"
#include "protocol/utf8.hpp"

namespace ksid::protocol {
namespace json = boost::json;

namespace {

bool is_python_space(char c) noexcept {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

DecodedLine error_line(std::string code, std::string message, bool with_timestamp = true) {
    DecodedLine d;
    d.kind = DecodedLine::Kind::error_reply;
    d.error_code = std::move(code);
    d.error_message = std::move(message);
    d.error_has_timestamp = with_timestamp;
    return d;
}

bool asks_for_persistence(const json::object& obj) {
    const auto* cmd = obj.if_contains("command");
    if (!cmd || !cmd->is_string() || cmd->get_string() != "AGENT_CONNECTION") return false;
    const auto* params = obj.if_contains("parameters");
    if (!params || !params->is_object()) return false;
    const auto* action = params->get_object().if_contains("action");
    return action && action->is_string() && action->get_string() == "connect";
}

} // namespace

std::string_view strip_python_whitespace(std::string_view s) noexcept {
    while (!s.empty() && is_python_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_python_space(s.back()))
        s.remove_suffix(1);
    return s;
}

DecodedLine decode_legacy_line(std::string_view raw_line, LinePosition position, std::size_t max_json_depth) {
    const bool first = position == LinePosition::first;
    if (!is_valid_utf8(raw_line)) return DecodedLine{}; // close silently
    const std::string_view line = strip_python_whitespace(raw_line);
    if (!first && line.empty()) {
        DecodedLine d;
        d.kind = DecodedLine::Kind::ignore;
        return d;
    }

    if (first && line == "HEALTH_CHECK") {
        DecodedLine d;
        d.kind = DecodedLine::Kind::text_health_probe;
        return d;
    }

    auto parsed = parse_json_text(line, max_json_depth);
    if (!parsed) {
        if (first)
            return error_line("INVALID_JSON", "All commands must be valid JSON: " + parsed.error().detail,
                              false);
        return error_line("INVALID_COMMAND", "Invalid JSON: " + parsed.error().detail);
    }
    if (!parsed->is_object()) {
        if (first) return DecodedLine{}; // close silently
        return error_line("INVALID_COMMAND", "Command must be a JSON object");
    }

    json::object& obj = parsed->get_object();
    const bool persistent = first && asks_for_persistence(obj);
    auto with_persistence = [persistent](DecodedLine d) {
        d.makes_persistent = persistent;
        return d;
    };

    const auto* command = obj.if_contains("command");
    if (!command) return with_persistence(error_line("INVALID_COMMAND", "Missing required field: command"));
    if (!obj.contains("version"))
        return with_persistence(error_line("INVALID_COMMAND", "Missing required field: version"));
    const CommandInfo* info = command->is_string() ? find_legacy_command(command->get_string()) : nullptr;
    if (!info)
        return with_persistence(
            error_line("UNKNOWN_COMMAND", "Command '" + python_str(*command) + "' not recognized"));

    // A number ksid cannot hold as sent would be stored or passed on altered (1e309 as Infinity, which no
    // JSON parser reads back; a 70-digit integer rounded), so the request is refused instead.
    if (auto number = find_unrepresentable_number(line)) {
        std::string shown(number->substr(0, 40));
        if (number->size() > 40) shown += "...";
        return with_persistence(error_line(
            "INVALID_PARAMETER", "The number " + shown +
                                     " cannot be kept as sent: ksid holds numbers that fit a double "
                                     "or a 64-bit integer (send larger ones as strings)"));
    }

    DecodedLine d;
    d.kind = DecodedLine::Kind::request;
    d.makes_persistent = persistent;
    d.request.command = std::string(info->name);
    if (const auto* params = obj.if_contains("parameters"))
        d.request.parameters = *params;
    else
        d.request.parameters = json::object();
    d.request.envelope = std::move(obj);
    return d;
}

} // namespace ksid::protocol
