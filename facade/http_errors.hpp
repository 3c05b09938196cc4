#pragma once
// The HTTP side of ksid's error vocabulary, pure: a ksid errc (with the turn's context) → the facade's
// error (status, OpenAI type, message, param, code), and that error → the response in the client's API
// (OpenAI's body, or Anthropic's body and statuses) with its retry headers.
#include "daemon/core/error.hpp"
#include "facade/http_response.hpp"
#include "protocol/openai_chat.hpp"

#include <string>

namespace ksid::facade {

struct TurnErrorContext {
    std::string detail;      // the outcome's detail
    int upstream_status = 0; // errc::upstream_failed: what the upstream answered
    bool started = false;    // the run had begun (one stopped midway may have used tools: not a 503)
};

protocol::OpenAIError openai_error_for(const boost::system::error_code& error,
                                       const TurnErrorContext& context = {});

// The error response: the body (OpenAI {"error": {...}}, or Anthropic {"type":"error","error":{...}} with
// 503 answered as 529), Retry-After on 429, and `x-should-retry: false` where a retry cannot help (4xx but
// 408/409) or must not happen (502/504: the run may have used tools).
HttpResponse error_response(const protocol::OpenAIError& error, ApiDialect dialect = ApiDialect::openai);
// A 429's Retry-After and retry-after-ms for a known wait (a tenant's window, a budget's or a
// subscription's reset); other responses are left alone.
void set_retry_after(HttpResponse& response, std::int64_t retry_after_ms);

} // namespace ksid::facade
