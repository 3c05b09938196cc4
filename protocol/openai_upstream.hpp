#pragma once
// The API shim's side of the OpenAI Chat Completions contract, sans I/O: the upstream base URL, the request
// a turn becomes, and the translation of the upstream's answer (a completion, or SSE chunks) into the CLI's own
// vocabulary (its stream events and result object), so the rest of ksid cannot tell the backends apart.
#include "protocol/sse_parser.hpp"
#include "protocol/stream_json.hpp"

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ksid::protocol {

// Loop protection between ksid instances: each one that forwards a request appends its instance id.
inline constexpr std::string_view hop_header = "X-Ksid-Hop";
inline constexpr std::size_t max_hops = 8;

// Checks a request's X-Ksid-Hop chain (comma-separated 16-hex instance ids) against this instance's id:
// nullopt when the request may be served, else the reason it must not (`malformed` or a loop).
struct HopProblem {
    bool malformed = false;
    std::string message;
};
std::optional<HopProblem> check_hop_chain(std::string_view hops, std::string_view own_id);

struct UpstreamBase {
    bool tls = false;
    std::string host; // without brackets for IPv6
    std::uint16_t port = 80;
    std::string path; // the base path without a trailing '/', e.g. "/v1"
    std::string host_header;
};

// http://host[:port][/path] or https://...; no user info, query or fragment.
boost::system::result<UpstreamBase, std::string> parse_upstream_base(std::string_view url);

struct UpstreamTurn {
    std::string_view model; // already mapped through api_shim.model_map
    std::string_view prompt;
    std::string_view system_prompt;
    std::optional<std::string_view> session_id;
    std::optional<std::string_view> agent_id;
    bool enable_tools = true;
    int priority = 5;
    bool stream = false;
    bool send_metadata = true;
};

// The request body: model, messages (system, user), stream (+ include_usage) and metadata whose values are
// all strings, as OpenAI-style servers require.
std::string upstream_request_body(const UpstreamTurn& turn);

// Fields the shim adds to every result (the original plan's reply shape).
struct ShimFields {
    std::string model; // as the client named it
    std::string timestamp;
    std::optional<std::string> agent_id;
};

// A non-streaming completion → the CLI's `--output-format json` result object plus the plan's sessionId,
// model, timestamp and agent_id. A ksid upstream sends its claude's own result object (`ksid_result`),
// which is used as it is; other upstreams get one built from the completion. session: the upstream's
// X-Session-Id header, if valid. An error text when the body is not a completion.
boost::system::result<boost::json::object, std::string>
cli_result_from_completion(std::string_view body, std::optional<std::string> session,
                           const ShimFields& fields, long long duration_ms);

// Upstream SSE chunks → the CLI's stream events (init, text deltas) and, at the end, its result object.
class UpstreamStreamTranslator {
public:
    UpstreamStreamTranslator(std::optional<std::string> session, ShimFields fields,
                             std::size_t max_event_bytes);

    // The init event that opens the turn (the session id, when known, comes first as in claude's output).
    StreamEvent init_event() const;
    // Appends the events these bytes complete to `out`.
    void feed(std::string_view bytes, std::vector<StreamEvent>& out);
    // End of the body: the result object, or an error text when the stream ended unfinished or was invalid.
    boost::system::result<boost::json::object, std::string> finish(long long duration_ms);
    // The output so far, counted as the CLI would print it (each delta a stream-json line of about 96 bytes
    // plus its text), so queue.max_output_bytes bounds the same volume whichever backend runs a turn.
    std::size_t output_bytes() const { return output_bytes_; }

private:
    void event(const SseEvent& e, std::vector<StreamEvent>& out);

    std::optional<std::string> session_;
    ShimFields fields_;
    SseParser sse_;
    std::vector<SseEvent> events_;
    std::string text_;
    std::size_t output_bytes_ = 0;
    std::string finish_reason_;
    boost::json::object usage_;
    std::optional<boost::json::object> ksid_result_;
    std::optional<std::string> error_; // an error event, or a chunk that was not JSON
    bool done_ = false;
};

// The upstream's error message from an OpenAI-style error body ({"error": {"message": ...}}), or a
// printable prefix of the body.
std::string upstream_error_message(std::string_view body);

// Retry-After (delta-seconds or an HTTP date) or retry-after-ms; nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view retry_after,
                                                           std::string_view retry_after_ms,
                                                           std::chrono::system_clock::time_point now);

// finish_reason → the CLI's stop_reason.
std::string_view stop_reason_for(std::string_view finish_reason);

} // namespace ksid::protocol
