#pragma once
// The OpenAI Chat Completions contract of the facade (../shared/spec/openai-api.md), sans I/O: request
// validation, the prompt rendered for the CLI, and the response, chunk, error and model-list bodies.
#include "protocol/client_tool_types.hpp"
#include "protocol/image_input.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

struct OpenAIError {
    int status = 400;
    std::string type = "invalid_request_error";
    std::string message;
    std::optional<std::string> param;
    std::optional<std::string> code;
};

// {"error": {"message", "type", "param", "code"}}
boost::json::object openai_error_body(const OpenAIError& error);
// The message naming its field ("max_tokens: Field required"), where a body or a log line has no `param`.
std::string message_with_param(const OpenAIError& error);

struct ChatMessage {
    ChatMessage() = default;
    ChatMessage(std::string r, std::string t) : role(std::move(r)), text(std::move(t)) {}
    std::string role; // system, developer, user, assistant, tool
    std::string text;
    std::vector<ClientToolCall> tool_calls; // assistant: the calls it made
    std::string tool_call_id;               // tool: the call this result answers
    bool is_error = false;                  // tool: the client says the tool failed
    bool beside_tool_results = false; // user: text that came in one message with tool results (Anthropic)
    std::vector<ImageInput> images;   // user: its images, after its text
};

struct ChatRequest {
    std::string model;
    std::vector<ChatMessage> messages;
    bool stream = false;
    bool include_usage = false;
    std::optional<std::string> session_id; // metadata.session_id, top-level session_id or X-Session-Id
    std::optional<bool> enable_tools;      // metadata.enable_tools (bool or "true"/"false")
    std::optional<std::string> agent_id;   // metadata.agent_id
    int priority = 5;                      // metadata.priority, 0..9, lower runs first
    std::vector<ClientTool> tools;         // the client's tools (none with tool_choice "none")
    // Structured output: the JSON Schema the answer must satisfy (response_format json_schema; json_object
    // is {"type":"object"}; Anthropic output_format). The CLI gets it as --json-schema.
    std::optional<boost::json::value> output_schema;
};

// A structured-output schema from a request (`param` names its field): a JSON Schema object ksid can check
// (protocol/json_schema_check.hpp), at most 64 KiB serialized (it goes on argv).
std::optional<OpenAIError> parse_output_schema(const boost::json::value& schema, const std::string& param,
                                               ChatRequest& r);

// The results the conversation ends with: its trailing tool messages, which answer the calls of the
// assistant message before them (empty when it does not end so). Text that came beside them in one message
// (Claude Code's reminders) is added to the last result, so that the process awaiting them sees it.
std::vector<ClientToolResult> trailing_tool_results(const ChatRequest& request);
// The last message that is neither a tool result nor a system message: the one tool results answer.
const ChatMessage* message_before_tool_results(const ChatRequest& request);

// Parses and validates a request body. header_session_id: the X-Session-Id header, if any.
boost::system::result<ChatRequest, OpenAIError>
parse_chat_request(std::string_view body, std::optional<std::string_view> header_session_id);

// The KSI extensions both APIs' requests may carry (`o` is the request body): metadata.session_id,
// .enable_tools, .agent_id and .priority, a top-level session_id, else the X-Session-Id header
// (header_session_id). Sets them in `r`; the error names the field that is wrong.
std::optional<OpenAIError> parse_ksi_extensions(const boost::json::object& o,
                                                std::optional<std::string_view> header_session_id,
                                                ChatRequest& r);

struct RenderedPrompt {
    std::string prompt;        // goes on stdin
    std::string system_prompt; // system/developer messages, for --append-system-prompt (may be empty)
    std::vector<ImageInput> images; // the images of the messages rendered, in order (they follow the text)
};

// With a session id only the messages after the last assistant message are new input; without one the
// conversation is rendered as a transcript ("User: ...\n\nAssistant: ...") unless it is a single user turn.
RenderedPrompt render_chat_prompt(const ChatRequest& request);

// One token counter of the CLI's usage object ("input_tokens", ...): 0 when absent or not a number.
long long usage_count(const boost::json::value& cli_usage, std::string_view key);
// OpenAI usage from the CLI's usage object (prompt = input + cache creation + cache read).
boost::json::object openai_usage(const boost::json::value& cli_usage);
// end_turn/stop_sequence → stop, max_tokens → length.
std::string_view finish_reason_for(std::string_view stop_reason);

// With tool_calls: message.tool_calls (content null when there is no text), finish_reason "tool_calls".
boost::json::object chat_completion_body(std::string_view id, long long created, std::string_view model,
                                         std::string_view content, std::string_view finish_reason,
                                         const boost::json::value& cli_usage,
                                         const std::vector<ClientToolCall>& tool_calls = {});
// One streamed chunk per call: delta.tool_calls [{index, id, type, function{name, arguments}}].
boost::json::object chat_tool_call_delta(std::size_t index, const ClientToolCall& call);

// One chunk: delta and finish_reason (null when empty); "usage": null unless usage_chunk.
boost::json::object chat_chunk_body(std::string_view id, long long created, std::string_view model,
                                    const boost::json::object& delta,
                                    std::optional<std::string_view> finish_reason);
boost::json::object chat_usage_chunk_body(std::string_view id, long long created, std::string_view model,
                                          const boost::json::value& cli_usage);

// "data: <json>\n\n"
std::string sse_event(const boost::json::value& body);
inline constexpr std::string_view sse_done = "data: [DONE]\n\n";
inline constexpr std::string_view sse_keepalive = ": keepalive\n\n";

boost::json::object model_body(std::string_view id, long long created);
boost::json::object model_list_body(const std::vector<std::string>& ids, long long created);

} // namespace ksid::protocol
