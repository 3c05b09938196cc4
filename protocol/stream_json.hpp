#pragma once
// Incremental parser for `claude --output-format stream-json --verbose [--include-partial-messages]`
// (claude-cli.md): bytes in, typed events out, one NDJSON line at a time. Unknown event types and fields
// are ignored, as new CLI versions add them. One parser serves one turn or a sequence of turns of a
// long-lived process: each turn ends with a `result` event.
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

struct StreamEvent {
    enum class Kind {
        init,           // system/init: the session id is known before any text
        text_delta,     // a token delta (stream_event content_block_delta/text_delta)
        assistant_text, // a whole assistant message's text (already_streamed: its deltas were seen)
        tool_use,       // the assistant asked for a tool (`text`: its name, `id`, `input`)
        tool_result,    // a tool's result came back (`id`: the tool_use id, `text`, `is_error`)
        rate_limit,     // rate_limit_event: `object` holds its rate_limit_info
        result,         // the turn's result object (same fields as --output-format json)
        // An API message ended (stream_event message_delta): `text` its stop reason, `object` its usage
        // (message_start's, updated by message_delta's).
        message_end,
        control_request, // the CLI asks ksid (an in-band MCP server's call, ...): `object` is the line
    };
    explicit StreamEvent(Kind k) : kind(k) {}
    Kind kind;
    std::string text;
    std::optional<std::string> session_id;
    boost::json::object object; // init and result events: the whole line
    std::string id;             // tool_use: the block's id; tool_result: the tool_use id it answers
    boost::json::value input;   // tool_use: the tool's input
    bool already_streamed = false;
    bool is_error = false; // tool_result
};

class StreamJsonParser {
public:
    explicit StreamJsonParser(std::size_t max_line_bytes = 16u << 20) : max_line_(max_line_bytes) {}

    // Appends the events completed by these bytes to `out`.
    void feed(std::string_view bytes, std::vector<StreamEvent>& out);
    // End of output: a last line without '\n' still counts.
    void finish(std::vector<StreamEvent>& out);

    std::size_t malformed_lines() const { return malformed_; }
    bool overflowed() const { return overflowed_; }

private:
    void parse_line(std::string_view line, std::vector<StreamEvent>& out);

    std::size_t max_line_;
    std::string pending_;
    std::size_t malformed_ = 0;
    bool overflowed_ = false;
    bool deltas_since_message_ = false;
    boost::json::object message_usage_; // of the API message being streamed
};

} // namespace ksid::protocol
