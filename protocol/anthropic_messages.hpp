#pragma once
// The Anthropic Messages API as the facade serves it (POST /v1/messages, /v1/messages/count_tokens,
// GET /v1/models with anthropic-version), sans I/O: request validation into the same ChatRequest the OpenAI
// route produces (so one renderer and one turn plan serve both), the message and error bodies, the model
// list, and the SSE stream encoder (named events, one message per CLI turn however many API messages the
// CLI's agent loop made, blocks numbered from 0).
#include "protocol/openai_chat.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

struct MessagesRequest {
    // model, messages (roles user/assistant/tool, system blocks as one system message), stream and the
    // KSI extensions, as parse_chat_request fills them.
    ChatRequest chat;
    long long max_tokens = 0; // required by the API; the CLI cannot honour it
    // The text the request carries (system, messages, tool definitions), for count_tokens' estimate.
    std::size_t text_bytes = 0;
};

enum class MessagesEndpoint { create, count_tokens };

// Parses and validates a /v1/messages (or count_tokens: no max_tokens) body. header_session_id: the
// X-Session-Id header, if any. Errors name the field as `param` ("messages.0.content.1.type").
boost::system::result<MessagesRequest, OpenAIError>
parse_messages_request(std::string_view body, std::optional<std::string_view> header_session_id,
                       MessagesEndpoint endpoint = MessagesEndpoint::create);

// count_tokens' documented estimate: one token per 4 bytes of text, rounded up, at least 1.
long long estimate_input_tokens(const MessagesRequest& request);

// Anthropic's error type for an HTTP status (400 invalid_request_error, 401 authentication_error, 403
// permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 504 timeout_error,
// 529 overloaded_error, other 5xx api_error).
std::string_view anthropic_error_type(int status);
// The status the Anthropic route answers for one the facade decided: 503 (nothing ran: shutting down,
// claude missing) becomes 529, Anthropic's "try again later"; the rest stay.
int anthropic_status(int status);
// {"type":"error","error":{"type":...,"message":...}}; the message names the field when there is one.
boost::json::object anthropic_error_body(const OpenAIError& error);

// The CLI's usage object → Anthropic's (input, cache creation, cache read, output tokens).
boost::json::object anthropic_usage(const boost::json::value& cli_usage);
// The CLI's stop_reason → the message's: the API's own values pass; tool_use becomes end_turn (the CLI
// ran its tools itself: there is no call for the client to answer); anything else end_turn.
std::string_view anthropic_stop_reason(std::string_view cli_stop_reason);

// A whole message: one text block (none when `text` is empty), then a tool_use block per client tool call
// (stop reason tool_use). session_id is ksid's extension.
boost::json::object message_body(std::string_view id, std::string_view model, std::string_view text,
                                 std::string_view stop_reason, const boost::json::value& cli_usage,
                                 std::optional<std::string_view> session_id,
                                 const std::vector<ClientToolCall>& tool_calls = {});

// "event: NAME\ndata: JSON\n\n"
std::string named_sse_event(std::string_view name, const boost::json::value& data);

// The SSE body of one streamed message, event by event. The facade calls start() once, then text() for
// each delta and end_block() where a CLI message ended (the next text opens a new block), whole_text()
// for a message that was not streamed, ping() while idle, and finish() or error() last. Text is valid UTF-8
// (it comes from parsed JSON: the CLI's lines, an upstream's events).
class MessageStreamEncoder {
public:
    MessageStreamEncoder(std::string id, std::string model, std::optional<std::string> session_id)
        : id_(std::move(id)), model_(std::move(model)), session_(std::move(session_id)) {}

    std::string start();
    std::string text(std::string_view delta);
    std::string end_block();
    std::string whole_text(std::string_view text);
    static std::string ping();
    // Closes the open block, then message_delta (stop reason, the turn's usage) and message_stop.
    // fallback_text is sent as a block first when no text was streamed at all (a backend that answered
    // at once).
    // ksid_result (for another ksid's API shim only): the CLI's result object, in message_delta.
    // tool_calls: the client tool calls the message ends with (tool_use blocks, stop reason tool_use).
    std::string finish(std::string_view fallback_text, std::string_view cli_stop_reason,
                       const boost::json::value& cli_usage, const boost::json::object* ksid_result = nullptr,
                       const std::vector<ClientToolCall>& tool_calls = {});
    // An error after the stream began: the `error` event, which ends the stream.
    static std::string error(const OpenAIError& error);

    int blocks() const { return next_index_; }

private:
    std::string id_;
    std::string model_;
    std::optional<std::string> session_;
    int next_index_ = 0; // the index the next block gets
    bool open_ = false;  // block next_index_ - 1 is open
};

// GET /v1/models in Anthropic's format: {"type":"model","id","display_name","created_at"} (RFC 3339).
boost::json::object anthropic_model_body(std::string_view id, std::string_view created_at);
// {"data":[...],"has_more":false,"first_id","last_id"}
boost::json::object anthropic_model_list_body(const std::vector<std::string>& ids,
                                              std::string_view created_at);
// "sonnet" → "Claude Sonnet"; a full id stays as it is.
std::string model_display_name(std::string_view id);

} // namespace ksid::protocol
