#pragma once
// What a turn is asked to do, backend neutral: the cli backend runs it as one `claude` process, a
// warm-process backend as one turn of a long-lived process, the upstream backend as one HTTP call.
#include "protocol/client_tool_types.hpp"
#include "protocol/image_input.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

// How the caller wants the turn's output.
enum class TurnOutput {
    // The legacy SPAWN contract: `claude --output-format json`, its stdout kept verbatim in the outcome
    // (spec §6.4 replies are built from those bytes).
    cli_json,
    // Typed events as they happen (the facade): `--output-format stream-json` for the cli backend.
    events,
};

struct TurnRequest {
    std::string prompt;                        // goes on stdin, never argv
    std::vector<protocol::ImageInput> images;  // follow the prompt's text (stream-json input only)
    std::string model;                         // validated
    std::optional<std::string> resume_session; // validated
    bool enable_tools = true;
    bool no_tools = false; // with enable_tools false: no tool at all, not the CLI's defaults
    std::string append_system_prompt; // facade: system/developer messages
    TurnOutput output = TurnOutput::cli_json;
    // The consumer shows events as they arrive (a streamed HTTP response). When false, a backend may
    // produce the whole answer at once (the upstream backend then makes a non-streaming call).
    bool incremental = true;
    std::chrono::milliseconds time_limit{300'000};
    // For the upstream (API shim) backend: sent as metadata, and the hop chain for loop protection.
    std::optional<std::string> agent_id;
    int priority = 5;   // 0..9, lower runs first
    std::string hops;   // X-Ksid-Hop of the HTTP request this turn serves ("" for socket clients)
    std::string origin; // who asked, for logs: "SPAWN", "SPAWN async", "HTTP req_…"
    // The client's tools (facade), served by the warm pool's processes; their key names the set.
    std::shared_ptr<const std::vector<protocol::ClientTool>> client_tools;
    std::string client_tools_key;
    // The client's results for the tool calls the previous response ended with: they answer the calls
    // pending in that response's process. `prompt` then replays the conversation, for when it is gone.
    std::vector<protocol::ClientToolResult> tool_results;
    // Who asks (daemon/services/usage_governor): the tenant ("local" for socket clients, a key's name, ""
    // when nothing is limited), the transport (socket, openai, anthropic), the HTTP request id, and the
    // admission the governor gave it (0: none).
    std::string tenant;
    std::string transport = "socket";
    std::string request_id;
    std::uint64_t admission = 0;
    // Structured output: the JSON Schema's text ("" for none); the answer's structured_output satisfies it.
    std::string json_schema;
    // Facade turns that resume a session: the whole conversation rendered as a transcript, for when the
    // session cannot be resumed where it lives (a worker that is gone): the turn then runs in a fresh session.
    std::string replay_prompt;
    std::vector<protocol::ImageInput> replay_images;
};

} // namespace ksid::daemon
