#include "facade/http_errors.hpp"

#include "protocol/anthropic_messages.hpp"

#include <boost/json/serialize.hpp>

namespace ksid::facade {

using daemon::errc;

namespace {

protocol::OpenAIError error_of(int status, std::string type, std::string message,
                               std::optional<std::string> param = {}, std::optional<std::string> code = {}) {
    return protocol::OpenAIError{status, std::move(type), std::move(message), std::move(param),
                                 std::move(code)};
}

} // namespace

protocol::OpenAIError openai_error_for(const boost::system::error_code& error, const TurnErrorContext& c) {
    if (error.category() != daemon::ksid_category())
        return error_of(500, "server_error", "internal error: " + error.message());
    switch (static_cast<errc>(error.value())) {
    case errc::queue_full:
        return error_of(429, "rate_limit_error", "ksid's job queue is full; retry later");
    case errc::shutting_down:
    case errc::cancelled:
        if (c.started) return error_of(502, "server_error", "the run was stopped: ksid is shutting down");
        return error_of(503, "service_unavailable_error", "ksid is shutting down");
    case errc::invalid_model:
        return error_of(404, "invalid_request_error", c.detail, "model", "model_not_found");
    case errc::tools_disabled:
        return error_of(400, "invalid_request_error",
                        "tools are disabled for HTTP clients on this server (facade.enable_tools)",
                        "metadata.enable_tools");
    case errc::loop_detected:
        return error_of(508, "invalid_request_error", c.detail, std::nullopt, "loop_detected");
    case errc::tool_results_mismatch:
        return error_of(400, "invalid_request_error", c.detail, "messages", "tool_results_mismatch");
    case errc::rate_limited:
        return error_of(429, "rate_limit_error", c.detail, std::nullopt, std::string("rate_limit_exceeded"));
    case errc::subscription_limited:
        return error_of(429, "rate_limit_error", c.detail, std::nullopt, std::string("subscription_limit"));
    case errc::model_not_allowed:
        return error_of(403, "permission_error", c.detail, "model", std::string("not_allowed"));
    case errc::key_revoked:
        return error_of(401, "authentication_error",
                        c.detail.empty() ? "the API key was revoked" : c.detail, std::nullopt,
                        std::string("invalid_api_key"));
    case errc::cancelled_by_admin:
        return error_of(403, "permission_error", "an administrator cancelled this turn (ksid's dashboard)",
                        std::nullopt, std::string("cancelled_by_admin"));
    case errc::claude_not_found:
        return error_of(503, "service_unavailable_error", "the claude CLI is not installed on this server");
    case errc::spawn_failed:
        return error_of(503, "service_unavailable_error", "claude could not be started");
    case errc::timed_out:
        return error_of(504, "timeout_error", "the run exceeded its time limit and was stopped");
    case errc::upstream_timed_out:
        return error_of(504, "timeout_error", "the upstream did not answer within api_shim.timeout");
    case errc::output_too_large:
    case errc::upstream_too_large:
        return error_of(502, "server_error", "claude produced more output than allowed");
    case errc::claude_error:
        return error_of(502, "server_error", "claude reported an error: " + c.detail);
    case errc::no_result:
        return error_of(502, "server_error", c.detail.empty() ? "claude ended without a result" : c.detail);
    case errc::upstream_failed: {
        const int u = c.upstream_status;
        // The client's own mistakes and back-pressure pass through; anything else is a bad gateway.
        if (u == 400 || u == 404 || u == 413 || u == 422 || u == 429 || u == 508)
            return error_of(u, u == 429 ? "rate_limit_error" : "invalid_request_error",
                            "upstream: " + c.detail);
        return error_of(502, "server_error", "upstream: " + c.detail);
    }
    case errc::broker_unavailable:
        return error_of(503, "service_unavailable_error", c.detail.empty() ? "the queue's broker cannot be reached" : c.detail,
                        std::nullopt, std::string("broker_unavailable"));
    case errc::session_unavailable:
        return error_of(409, "invalid_request_error", c.detail, "session_id", std::string("session_unavailable"));
    case errc::worker_lost:
        return error_of(502, "server_error", c.detail.empty() ? "the worker running the turn stopped" : c.detail,
                        std::nullopt, std::string("worker_lost"));
    case errc::io_failed:
    case errc::internal:
        break;
    }
    return error_of(500, "server_error", "internal error: " + error.message());
}

HttpResponse error_response(const protocol::OpenAIError& e, ApiDialect dialect) {
    HttpResponse res;
    const bool anthropic = dialect == ApiDialect::anthropic;
    res.status = anthropic ? protocol::anthropic_status(e.status) : e.status;
    res.body = boost::json::serialize(anthropic ? protocol::anthropic_error_body(e)
                                                : protocol::openai_error_body(e));
    res.reason = protocol::message_with_param(e);
    if (e.status == 429) {
        res.set("Retry-After", "1");
        res.set("retry-after-ms", "1000");
    } else if ((e.status != 408 && e.status != 409 && e.status < 500) || e.status == 502 || e.status == 504) {
        res.set("x-should-retry", "false"); // 502/504: the run may have used tools, never run it twice
    }
    return res;
}

void set_retry_after(HttpResponse& res, std::int64_t ms) {
    if (res.status != 429 || ms <= 0) return;
    for (auto& [name, value] : res.headers) {
        if (name == "Retry-After") value = std::to_string((ms + 999) / 1000);
        if (name == "retry-after-ms") value = std::to_string(ms);
    }
}

} // namespace ksid::facade
