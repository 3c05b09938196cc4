#pragma once
// What a backend reports while a turn runs, whatever its wire format: the cli backend maps the CLI's
// stream-json lines, the upstream backend an upstream's SSE chunks, to these. Consumers (the facade's
// SSE writer) see only these types, never the text a backend read.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <optional>
#include <string>
#include <variant>

namespace ksid::daemon {

// The turn began: its session id is known (absent when the backend has none) before any text.
struct TurnStarted {
    std::optional<std::string> session_id;
    std::string model;
};

// A piece of assistant text as it is generated.
struct TextDelta {
    std::string text;
};

// A whole assistant message's text. already_streamed: its deltas were reported before.
struct AssistantText {
    std::string text;
    bool already_streamed = false;
};

// The assistant asked for a tool.
struct ToolUse {
    std::string id;
    std::string name;
    boost::json::value input;
};

// A tool's result came back (claude ran the tool itself).
struct ToolResult {
    std::string tool_use_id;
    std::string content;
    bool is_error = false;
};

// Token usage so far (the CLI's usage object: input_tokens, output_tokens, cache_*).
struct UsageUpdate {
    boost::json::object usage;
};

// The provider said the account is rate limited (or near it); `info` as the backend received it.
struct RateLimitNotice {
    boost::json::object info;
};

using TurnEvent =
    std::variant<TurnStarted, TextDelta, AssistantText, ToolUse, ToolResult, UsageUpdate, RateLimitNotice>;

// Receives a turn's events on the event loop, in order. The turn's result is its outcome, not an event.
using TurnEventSink = std::function<void(const TurnEvent&)>;

} // namespace ksid::daemon
