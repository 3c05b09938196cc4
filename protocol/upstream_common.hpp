#pragma once
// What the API shim's two upstream wire formats (OpenAI Chat Completions, protocol/openai_upstream;
// Anthropic Messages, protocol/anthropic_upstream) share, sans I/O: the base URL, loop protection, the turn
// as both formats see it, the fields the shim adds to every result, the CLI result object built from an
// answer, error bodies, Retry-After, and the frame of a streaming translation (SSE in, the CLI's stream
// events and result object out), whose per-event part each format supplies.
#include "protocol/sse_parser.hpp"
#include "protocol/stream_json.hpp"

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
    unsigned max_tokens = 8192; // Anthropic requires it; OpenAI-style requests leave it to the server
};

// Fields the shim adds to every result (the original plan's reply shape).
struct ShimFields {
    std::string model; // as the client named it
    std::string timestamp;
    std::optional<std::string> agent_id;
};

// ---- building the CLI's result object (shared by the formats) ----

// A token count from the upstream, clamped to [0, 10^15] (it may send anything); 0 when absent.
long long clamped_count(const boost::json::object& o, std::string_view key);

// sessionId, model, timestamp and agent_id.
void add_shim_fields(boost::json::object& result, const std::optional<std::string>& session,
                     const ShimFields& fields);

// The result of a successful turn: type, subtype, is_error, duration_ms, num_turns, result, stop_reason
// (already in the CLI's vocabulary), session_id when known, usage (already in the CLI's vocabulary).
boost::json::object success_result(std::string_view text, std::string_view stop_reason,
                                   boost::json::object usage, const std::optional<std::string>& session,
                                   long long duration_ms);

// A non-streaming answer → the CLI result object plus the ShimFields. A ksid upstream sends its claude's
// own result object (`ksid_result`), which is used as it is; else `build` translates the answer (the
// session: the upstream's X-Session-Id header, if valid). An error text when the body is not a JSON object
// or `build` refuses it.
using BuildResult = std::function<boost::system::result<boost::json::object, std::string>(
    const boost::json::object& answer, const std::optional<std::string>& session)>;
boost::system::result<boost::json::object, std::string>
cli_result_from_answer(std::string_view body, std::optional<std::string> header_session,
                       const ShimFields& fields, const BuildResult& build);

// ---- streaming ----

// Upstream SSE → the CLI's stream events (init, text deltas) and, at the end, its result object. The
// frame every format shares: SSE parsing with a size bound, output counting, a ksid upstream's own result,
// errors and unfinished streams; a format supplies what one event means and the result it adds up to.
class StreamTranslator {
public:
    virtual ~StreamTranslator() = default;
    StreamTranslator(const StreamTranslator&) = delete;
    StreamTranslator& operator=(const StreamTranslator&) = delete;

    // The init event that opens the turn (the session id, when known, comes first as in claude's output).
    StreamEvent init_event() const;
    // Appends the events these bytes complete to `out`.
    void feed(std::string_view bytes, std::vector<StreamEvent>& out);
    // End of the body: the result object (is_error when the upstream reported an error or sent something
    // unreadable), or an error text when the stream ended unfinished or overflowed.
    boost::system::result<boost::json::object, std::string> finish(long long duration_ms);
    // The output so far, counted as the CLI would print it (each delta a stream-json line of about 96 bytes
    // plus its text), so queue.max_output_bytes bounds the same volume whichever backend runs a turn.
    std::size_t output_bytes() const { return output_bytes_; }

protected:
    StreamTranslator(std::optional<std::string> session, ShimFields fields, std::size_t max_event_bytes);

    // One SSE event (never called after fail() or stop()).
    virtual void event(const SseEvent& e, std::vector<StreamEvent>& out) = 0;
    // The stream said it was complete.
    virtual bool finished() const = 0;
    // The success result from what the events said (text() and the format's usage and stop reason).
    virtual boost::json::object result(long long duration_ms) const = 0;

    // The event's data as a JSON object (a ksid upstream's result is noted); nullopt after fail().
    std::optional<boost::json::object> object_of(const SseEvent& e);
    void emit_text(std::string_view text, std::vector<StreamEvent>& out);
    void fail(std::string error) { error_ = std::move(error); }
    void stop() { stopped_ = true; } // the end of the stream: later events are ignored
    bool stopped() const { return stopped_; }
    const std::string& text() const { return text_; }
    const std::optional<std::string>& session() const { return session_; }

private:
    std::optional<std::string> session_;
    ShimFields fields_;
    SseParser sse_;
    std::vector<SseEvent> events_;
    std::string text_;
    std::size_t output_bytes_ = 0;
    std::optional<boost::json::object> ksid_result_;
    std::optional<std::string> error_; // an error event, or a chunk that was not JSON
    bool stopped_ = false;
};

// ---- errors and retries ----

// The upstream's error message from an OpenAI-style ({"error": {"message": ...}}) or Anthropic-style
// ({"type": "error", "error": {"type": ..., "message": ...}}) error body, or a printable prefix of the body.
std::string upstream_error_message(std::string_view body);

// Retry-After (delta-seconds or an HTTP date) or retry-after-ms; nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view retry_after,
                                                           std::string_view retry_after_ms,
                                                           std::chrono::system_clock::time_point now);

} // namespace ksid::protocol
