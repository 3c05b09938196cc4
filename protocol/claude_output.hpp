#pragma once
// Interpreting what one `claude --output-format json` run printed (spec §6.3-6.5) and building the
// session-log lines (spec §9.3). Pure functions: the caller supplies bytes, exit status and timestamps.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ksid::protocol {

struct ClaudeJsonOutput {
    enum class Kind {
        object,      // stdout is one JSON object: `output`
        empty,       // nothing (or only whitespace) on stdout
        invalid,     // not JSON: `parse_error` holds Python's detail
        non_object,  // JSON, but not an object
        bad_utf8,    // stdout is not UTF-8: `parse_error` holds the decoder's text
    };
    Kind kind = Kind::empty;
    boost::json::object output;
    boost::json::value value; // the parsed value when kind == non_object
    std::string parse_error;
    // output["sessionId"] if truthy, else output["session_id"]: set only when it is a valid session id.
    std::optional<std::string> session_id;
    bool session_id_rejected = false; // present but not a valid id (never used in a path)
};

ClaudeJsonOutput parse_claude_json_output(std::string_view stdout_bytes);

// The sync SPAWN result object R for a run that started (spec §6.4 table). stderr is appended to an
// object output when non-empty.
boost::json::object sync_spawn_result(const ClaudeJsonOutput& parsed, std::string_view stderr_text, int returncode,
                                      std::string_view stdout_bytes);

// {"timestamp": T, "type": "human", "content": prompt} (+ process_id, agent_id for async runs).
boost::json::object human_log_line(std::string_view timestamp, std::string_view prompt,
                                   const boost::json::value* process_id = nullptr,
                                   const boost::json::value* agent_id = nullptr);

// The output with "type" set to "claude" (in place if present) and "timestamp" added; if there was no
// "type", it comes after "timestamp".
boost::json::object claude_log_line(const boost::json::object& output, std::string_view timestamp);

// str(UnicodeDecodeError) for `bytes`: "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte".
std::string python_utf8_error(std::string_view bytes);

// A count in the CLI's usage object ("input_tokens", ...): 0 when absent or not a number.
long long usage_count(const boost::json::object& usage, std::string_view key);

} // namespace ksid::protocol
