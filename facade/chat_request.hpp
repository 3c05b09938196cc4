#pragma once
// A chat completion or Anthropic messages request → the turn to run, pure: the hop chain (loop protection),
// the body (protocol/openai_chat, protocol/anthropic_messages: both become one ChatRequest), the model, the
// tools policy, the rendered prompt's limits. What it needs of the daemon comes in as values, so the fuzz
// targets run exactly this.
#include "daemon/turns/turn_request.hpp"
#include "protocol/anthropic_messages.hpp"
#include "protocol/openai_chat.hpp"

#include <boost/system/result.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ksid::facade {

struct ChatHttpRequest {
    std::string_view body;
    std::string_view session_header; // X-Session-Id ("" when absent)
    std::string_view hops;           // X-Ksid-Hop ("" when absent)
    std::string_view request_id;
};

struct ChatPolicy {
    std::string_view instance_id; // this ksid's, for loop protection
    bool tools_allowed = false;   // facade.enable_tools
    bool stopping = false;        // ksid is shutting down
    // Client tools can be served (the warm pool is the backend). When not, a request's tools are not
    // offered to the model (the plan says so: tools_ignored) and tool results are replayed as text.
    bool client_tools = false;
    bool images = true; // images and structured output can be passed on (not to an API shim's upstream)
    unsigned max_images = 20;
    std::size_t max_image_bytes = 5 * 1024 * 1024;
    std::size_t max_images_total_bytes = 20 * 1024 * 1024;
    // Turns run on a broker's workers: a resumed session's whole conversation goes along, for when the
    // worker that holds the session is gone.
    bool replay_sessions = false;
    // nullopt when the model may be used, else why not.
    std::function<std::optional<std::string>(std::string_view)> model_problem;
};

// A validated request, ready to run.
struct ChatPlan {
    protocol::ChatRequest chat;
    daemon::TurnRequest turn;
    bool tools_ignored = false; // the request had tools this server cannot serve (ChatPolicy::client_tools)
};

boost::system::result<ChatPlan, protocol::OpenAIError> plan_chat_turn(const ChatHttpRequest& request,
                                                                      const ChatPolicy& policy);

// POST /v1/messages: the same checks and the same turn. The body's Anthropic fields that only validate
// (max_tokens, ...) are not part of the plan.
boost::system::result<ChatPlan, protocol::OpenAIError> plan_messages_turn(const ChatHttpRequest& request,
                                                                          const ChatPolicy& policy);

} // namespace ksid::facade
