#include "protocol/claude_cli.hpp"

#include "protocol/client_tools.hpp"
#include "protocol/reserved_names.hpp"

namespace ksid::protocol {

namespace {
bool is_alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
} // namespace

std::vector<std::string> build_claude_argv(std::string_view executable, const ClaudeInvocation& inv) {
    std::vector<std::string> argv{std::string(executable), "--model", inv.model, "--print"};
    if (inv.stream_input) {
        argv.emplace_back("--input-format");
        argv.emplace_back("stream-json");
    }
    argv.emplace_back("--output-format");
    if (inv.format == ClaudeOutputFormat::json && !inv.stream_input) {
        argv.emplace_back("json");
    } else {
        argv.emplace_back("stream-json");
        argv.emplace_back("--verbose");
        if (inv.include_partial_messages) argv.emplace_back("--include-partial-messages");
    }
    if (!inv.append_system_prompt.empty())
        argv.push_back("--append-system-prompt=" + inv.append_system_prompt);
    const bool client_tools = inv.client_tools && inv.stream_input;
    if (inv.enable_tools) {
        argv.emplace_back("--allowedTools");
        argv.emplace_back(client_tools ? std::string(legacy_allowed_tools) + " mcp__client"
                                       : std::string(legacy_allowed_tools));
    } else if (inv.no_tools) {
        argv.emplace_back("--tools");
        argv.emplace_back("");
        if (client_tools) {
            argv.emplace_back("--allowedTools");
            argv.emplace_back("mcp__client");
        }
    }
    if (client_tools) {
        argv.emplace_back("--mcp-config");
        argv.push_back(client_tools_mcp_config());
    }
    if (client_tools || (!inv.enable_tools && inv.no_tools)) argv.emplace_back("--strict-mcp-config");
    if (!inv.json_schema.empty()) {
        argv.emplace_back("--json-schema");
        argv.push_back(inv.json_schema);
    }
    if (inv.resume_session && !inv.resume_session->empty()) {
        if (inv.stream_input) {
            argv.push_back("--resume=" + *inv.resume_session);
        } else {
            argv.emplace_back("--resume");
            argv.emplace_back(*inv.resume_session);
        }
    }
    return argv;
}

bool is_safe_identifier(std::string_view name) noexcept {
    if (name.empty() || name.size() > 128 || name.front() == '-' || name.front() == '.') return false;
    for (char c : name)
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.' && c != ':') return false;
    return true;
}

bool is_valid_session_id(std::string_view id) noexcept {
    return is_safe_identifier(id) && !is_reserved_session_id(id);
}

std::string session_id_rules() {
    std::string rules =
        "letters, digits, '-', '_', '.', ':' (at most 128, not starting with '-' or '.'; not ";
    for (std::size_t i = 0; i < reserved_session_ids.size(); ++i) {
        if (i > 0) rules += i + 1 == reserved_session_ids.size() ? " or " : ", ";
        rules += reserved_session_ids[i];
    }
    return rules + ")";
}

bool is_valid_model_name(std::string_view model) noexcept {
    if (model.empty() || model.size() > 128 || model.front() == '-') return false;
    for (char c : model)
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.' && c != ':' && c != '[' && c != ']')
            return false;
    return true;
}

} // namespace ksid::protocol
