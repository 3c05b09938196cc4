#include "facade/chat_request.hpp"

#include "facade/http_errors.hpp"
#include "protocol/client_tools.hpp"
#include "protocol/openai_upstream.hpp"

#include <boost/json/serialize.hpp>


namespace ksid::facade {

using daemon::errc;

namespace {

std::optional<protocol::OpenAIError> hop_problem(const ChatHttpRequest& request, const ChatPolicy& policy) {
    auto problem = protocol::check_hop_chain(request.hops, policy.instance_id);
    if (!problem) return std::nullopt;
    if (problem->malformed)
        return protocol::OpenAIError{400, "invalid_request_error", problem->message, std::nullopt,
                                     std::nullopt};
    return openai_error_for(errc::loop_detected, {problem->message});
}

std::optional<std::string_view> header_session(const ChatHttpRequest& request) {
    if (request.session_header.empty()) return std::nullopt;
    return request.session_header;
}

// Tool results must answer exactly the calls of the assistant message before them.
std::optional<std::string> results_problem(const protocol::ChatRequest& chat,
                                           const std::vector<protocol::ClientToolResult>& results) {
    if (results.empty()) return std::nullopt;
    const auto* before = protocol::message_before_tool_results(chat);
    if (!before || before->role != "assistant" || before->tool_calls.empty())
        return std::string("tool results must follow the assistant message whose tool calls they answer");
    return protocol::tool_results_problem(before->tool_calls, results);
}

// Images within the facade's bounds (413 naming the limit), and only where they can be passed on.
std::optional<protocol::OpenAIError> images_problem(const std::vector<protocol::ImageInput>& images,
                                                    const ChatPolicy& policy) {
    if (images.empty()) return std::nullopt;
    auto too_large = [](std::string message) {
        return protocol::OpenAIError{413, "invalid_request_error", std::move(message), std::string("messages"),
                                     std::string("request_too_large")};
    };
    if (!policy.images)
        return protocol::OpenAIError{400, "invalid_request_error",
                                     "images are not supported in API shim mode (the upstream call is text only)",
                                     std::string("messages"), std::nullopt};
    if (images.size() > policy.max_images)
        return too_large(std::to_string(images.size()) + " images: at most " + std::to_string(policy.max_images) +
                         " per request (facade.max_images)");
    std::size_t total = 0;
    for (const auto& image : images) {
        if (image.bytes > policy.max_image_bytes)
            return too_large("an image of " + std::to_string(image.bytes) + " bytes: at most " +
                             std::to_string(policy.max_image_bytes) + " per image (facade.max_image_bytes)");
        total += image.bytes;
    }
    if (total > policy.max_images_total_bytes)
        return too_large("images of " + std::to_string(total) + " bytes in all: at most " +
                         std::to_string(policy.max_images_total_bytes) + " per request (facade.max_images_total_bytes)");
    return std::nullopt;
}

// The checks and the turn both routes share, from the parsed request.
boost::system::result<ChatPlan, protocol::OpenAIError>
plan_turn(protocol::ChatRequest parsed, const ChatHttpRequest& request, const ChatPolicy& policy) {
    ChatPlan plan{std::move(parsed), {}};
    const auto& chat = plan.chat;
    if (policy.model_problem)
        if (auto problem = policy.model_problem(chat.model))
            return openai_error_for(errc::invalid_model, {*problem});
    if (chat.enable_tools.value_or(false) && !policy.tools_allowed)
        return openai_error_for(errc::tools_disabled);
    auto rendered = protocol::render_chat_prompt(chat);
    auto invalid = [](std::string message) {
        return protocol::OpenAIError{400, "invalid_request_error", std::move(message),
                                     std::string("messages"), std::nullopt};
    };
    if (rendered.system_prompt.size() > 100 * 1024)
        return invalid("system messages are limited to 100 KiB in total");
    if (rendered.prompt.empty() && rendered.images.empty()) return invalid("there is no user text to answer");
    if (auto problem = images_problem(rendered.images, policy)) return *problem;
    if (policy.stopping) return openai_error_for(errc::shutting_down);

    daemon::TurnRequest& t = plan.turn;
    if (chat.output_schema && !policy.images)
        return protocol::OpenAIError{400, "invalid_request_error",
                                     "structured output is not supported in API shim mode", std::string("response_format"),
                                     std::nullopt};
    if (chat.output_schema) t.json_schema = boost::json::serialize(*chat.output_schema);
    t.prompt = std::move(rendered.prompt);
    t.images = std::move(rendered.images);
    t.append_system_prompt = std::move(rendered.system_prompt);
    t.model = chat.model;
    t.resume_session = chat.session_id;
    if (chat.session_id && policy.replay_sessions) {
        auto whole = chat;
        whole.session_id.reset();
        auto replay = protocol::render_chat_prompt(whole);
        t.replay_prompt = std::move(replay.prompt);
        t.replay_images = std::move(replay.images);
    }
    t.enable_tools = chat.enable_tools.value_or(false) && policy.tools_allowed;
    t.no_tools = !t.enable_tools; // tools off for an HTTP client means none, not the CLI's defaults
    t.output = daemon::TurnOutput::events;
    t.incremental = chat.stream;
    t.agent_id = chat.agent_id;
    t.priority = chat.priority;
    t.hops = std::string(request.hops);
    t.origin = "HTTP " + std::string(request.request_id);
    if (!chat.tools.empty()) {
        if (policy.client_tools) {
            t.client_tools = std::make_shared<const std::vector<protocol::ClientTool>>(chat.tools);
            t.client_tools_key = protocol::client_tools_key(chat.tools);
            t.tool_results = protocol::trailing_tool_results(chat);
            if (auto problem = results_problem(chat, t.tool_results)) return invalid(*problem);
        } else {
            plan.tools_ignored = true;
        }
    }
    return plan;
}

} // namespace

boost::system::result<ChatPlan, protocol::OpenAIError> plan_chat_turn(const ChatHttpRequest& request,
                                                                      const ChatPolicy& policy) {
    if (auto problem = hop_problem(request, policy)) return *problem;
    auto parsed = protocol::parse_chat_request(request.body, header_session(request));
    if (!parsed) return parsed.error();
    return plan_turn(std::move(*parsed), request, policy);
}

boost::system::result<ChatPlan, protocol::OpenAIError> plan_messages_turn(const ChatHttpRequest& request,
                                                                          const ChatPolicy& policy) {
    if (auto problem = hop_problem(request, policy)) return *problem;
    auto parsed = protocol::parse_messages_request(request.body, header_session(request));
    if (!parsed) return parsed.error();
    return plan_turn(std::move(parsed->chat), request, policy);
}

} // namespace ksid::facade
