#pragma once
// The API shim's side of the Anthropic Messages API (POST /v1/messages, anthropic-version 2023-06-01),
// sans I/O: the target path, the headers and body a turn becomes, and the translation of the answer (a
// `message`, or its SSE events) into the CLI's own vocabulary (stream events and the result object), the
// same as protocol/openai_upstream does for Chat Completions. What both share is in upstream_common.
#include "protocol/upstream_common.hpp"

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ksid::protocol {

inline constexpr std::string_view anthropic_version = "2023-06-01";

// {base}/v1/messages; a base path that already ends in /v1 is not doubled ("" and "/v1" both give
// /v1/messages, "/proxy" gives /proxy/v1/messages).
std::string anthropic_target(std::string_view base_path);

// x-api-key (when a key is set) and anthropic-version.
std::vector<std::pair<std::string, std::string>> anthropic_headers(std::string_view api_key);

// The request body: model, max_tokens, system (when non-empty), one user message with one text block,
// stream, and metadata. Anthropic accepts only `user_id` in metadata: it carries the agent id (when
// present). With send_metadata (a ksid upstream), the KSI extensions are added as well: a top-level
// `session_id` (when resuming) and metadata agent_id, session_id, enable_tools and priority as strings,
// the same names the OpenAI format uses; api.anthropic.com rejects them, so it needs send_metadata false.
std::string anthropic_request_body(const UpstreamTurn& turn);

// A non-streaming `message` → the CLI's `--output-format json` result object (result: its text blocks
// joined; stop_reason and usage as the message has them) plus the plan's fields. A ksid upstream's own
// result (`ksid_result`) is used as it is. An error text when the body is not a message.
boost::system::result<boost::json::object, std::string>
cli_result_from_message(std::string_view body, std::optional<std::string> session, const ShimFields& fields,
                        long long duration_ms);

// Anthropic SSE (message_start, content_block_start/delta/stop, message_delta, message_stop, ping, error)
// → the CLI's stream events and result object. Only text_delta deltas are text; thinking, signature and
// tool input deltas are ignored. An `error` event gives an is_error result; a stream without message_stop
// is unfinished (an error).
class AnthropicStreamTranslator final : public StreamTranslator {
public:
    AnthropicStreamTranslator(std::optional<std::string> session, ShimFields fields,
                              std::size_t max_event_bytes)
        : StreamTranslator(std::move(session), std::move(fields), max_event_bytes) {}

private:
    void event(const SseEvent& e, std::vector<StreamEvent>& out) override;
    bool finished() const override { return stopped(); }
    boost::json::object result(long long duration_ms) const override;

    std::string stop_reason_;
    boost::json::object usage_;
};

} // namespace ksid::protocol
