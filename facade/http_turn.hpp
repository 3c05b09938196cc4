#pragma once
// Serving one turn over HTTP, whichever API the client speaks: submit the planned turn to the TurnService,
// keep its events for a stream (bounded by daemon.max_outbox_bytes), cancel the run when the client leaves
// or falls behind, and answer with one whole response or an SSE stream (headers once the turn started,
// then its events as they arrive, keep-alives while it is silent, then its end). What the bytes look like
// is the dialect's: a TurnResponder (OpenAI chat completions, Anthropic messages).
#include "daemon/turns/turn_events.hpp"
#include "daemon/turns/turn_outcome.hpp"
#include "daemon/turns/turn_request.hpp"
#include "facade/facade_context.hpp"
#include "facade/http_exchange.hpp"
#include "protocol/openai_chat.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace ksid::facade {

class TurnResponder {
public:
    virtual ~TurnResponder() = default;
    // An error before anything was sent.
    virtual HttpResponse error(const protocol::OpenAIError& error) const = 0;
    // The whole answer. job_id names the response when the backend has no session.
    virtual HttpResponse answer(const std::string& job_id, const daemon::TurnAnswer& answer) const = 0;
    // A stream's head carries the SSE headers and X-Session-Id; this adds the dialect's own.
    virtual void stream_headers(HttpResponse& head) const = 0;
    // A stream's first bytes, once the turn started (session "": the backend has none).
    virtual std::string stream_start(const std::string& job_id, const std::string& session) = 0;
    // The bytes for one event ("" when the dialect sends nothing for it).
    virtual std::string stream_event(const daemon::TurnEvent& event) = 0;
    virtual std::string stream_keepalive() = 0;
    // The last bytes of a stream: an error after the head went out, or the end of the answer.
    virtual std::string stream_error(const protocol::OpenAIError& error) = 0;
    virtual std::string stream_finish(const daemon::TurnAnswer& answer) = 0;
};

struct HttpTurn {
    daemon::TurnRequest request;
    bool stream = false;
    std::optional<std::string> agent_id; // recorded in the session log lines
};

boost::asio::awaitable<HttpResponse> serve_turn(FacadeContext& c, HttpExchange& x, HttpTurn turn,
                                                TurnResponder& responder);

// The facade's error for how a turn ended.
protocol::OpenAIError turn_error(const daemon::TurnOutcome& outcome);

} // namespace ksid::facade
