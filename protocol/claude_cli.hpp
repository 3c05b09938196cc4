#pragma once
// The `claude` command line ksid builds (spec §6.1, claude-cli.md) and the validation of everything that
// reaches argv from a client. Prompts never go on argv: they are written to stdin.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

// The legacy tool list: one argv element with space-separated names.
inline constexpr std::string_view legacy_allowed_tools =
    "Task Bash Glob Grep LS Read Edit MultiEdit Write WebFetch WebSearch";

enum class ClaudeOutputFormat {
    json,        // one result object (SPAWN)
    stream_json, // NDJSON events with --verbose (--include-partial-messages for token deltas)
};

struct ClaudeInvocation {
    std::string model;
    std::optional<std::string> resume_session; // --resume S when set and non-empty
    bool enable_tools = true;
    ClaudeOutputFormat format = ClaudeOutputFormat::json;
    bool include_partial_messages = true; // stream_json only
    // --append-system-prompt=TEXT (one argv element, so the text can never be read as a flag). Callers
    // bound its size: the kernel limits one argv element to 128 KiB.
    std::string append_system_prompt;
    // A persistent process (claude-cli.md "Persistent processes"): --input-format stream-json, one user turn
    // per stdin line; stream-json output; the session as one element, --resume=S.
    bool stream_input = false;
    // With enable_tools false: no built-in tools at all (--tools "" and --strict-mcp-config), instead of the
    // CLI's defaults, which still let the model run Read and read-only Bash in the working directory.
    bool no_tools = false;
    // The request's client tools, served by ksid's in-band MCP server (protocol/client_tools.hpp): a
    // persistent process only. Adds --mcp-config (the "client" sdk server) and --strict-mcp-config, and
    // allows the server's tools (mcp__client) beside what enable_tools allows.
    bool client_tools = false;
    // Structured output: --json-schema SCHEMA (a JSON object's text, so never read as a flag; bounded by the
    // caller). The CLI then has the model answer through its StructuredOutput tool.
    std::string json_schema;
};

// argv[0] is `executable`; the order is the legacy one:
//   claude --model M --print --output-format json [--allowedTools "..."] [--resume S]
// A persistent process: claude --model M --print --input-format stream-json --output-format stream-json
//   --verbose --include-partial-messages [--append-system-prompt=...] [--allowedTools "..."] [--resume=S]
std::vector<std::string> build_claude_argv(std::string_view executable, const ClaudeInvocation& invocation);

// Names that go on argv or into ids (agent ids): letters, digits, '-', '_', '.', ':'; at most 128 bytes; not
// starting with '-' or '.'.
bool is_safe_identifier(std::string_view name) noexcept;

// Session ids name files (claude_logs/<id>.jsonl) and go on argv: a safe identifier that is not one of
// the reserved_session_ids (protocol/reserved_names.hpp).
bool is_valid_session_id(std::string_view id) noexcept;
// The rule above in words, for error messages.
std::string session_id_rules();

// Model names go on argv: letters, digits, '-', '_', '.', ':', '[', ']'; at most 128 bytes; not starting
// with '-'.
bool is_valid_model_name(std::string_view model) noexcept;

} // namespace ksid::protocol
