#pragma once
// The API shim's side of the OpenAI Chat Completions contract, sans I/O: the request a turn becomes, and
// the translation of the upstream's answer (a completion, or SSE chunks) into the CLI's own vocabulary
// (its stream events and result object), so the rest of ksid cannot tell the backends apart. What this
// shares with the Anthropic format (base URL, hops, errors, the streaming frame) is in upstream_common.
#include "protocol/upstream_common.hpp"

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ksid::protocol {

// The request's path under the base URL's path: {base}/chat/completions.
std::string openai_target(std::string_view base_path);

// The request body: model, messages (system, user), stream (+ include_usage) and metadata whose values are
// all strings, as OpenAI-style servers require.
std::string upstream_request_body(const UpstreamTurn& turn);

// A non-streaming completion → the CLI's `--output-format json` result object plus the plan's sessionId,
// model, timestamp and agent_id. A ksid upstream sends its claude's own result object (`ksid_result`),
// which is used as it is; other upstreams get one built from the completion. session: the upstream's
// X-Session-Id header, if valid. An error text when the body is not a completion.
boost::system::result<boost::json::object, std::string>
cli_result_from_completion(std::string_view body, std::optional<std::string> session,
                           const ShimFields& fields, long long duration_ms);

// Upstream SSE chunks (`data: {chunk}` ... `data: [DONE]`) → the CLI's stream events and result object.
class UpstreamStreamTranslator final : public StreamTranslator {
public:
    UpstreamStreamTranslator(std::optional<std::string> session, ShimFields fields,
                             std::size_t max_event_bytes)
        : StreamTranslator(std::move(session), std::move(fields), max_event_bytes) {}

private:
    void event(const SseEvent& e, std::vector<StreamEvent>& out) override;
    bool finished() const override { return stopped() || !finish_reason_.empty(); }
    boost::json::object result(long long duration_ms) const override;

    std::string finish_reason_;
    boost::json::object usage_;
};

// finish_reason → the CLI's stop_reason.
std::string_view stop_reason_for(std::string_view finish_reason);

} // namespace ksid::protocol
