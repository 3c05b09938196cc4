#pragma once
// POST /v1/chat/completions (../shared/spec/openai-api.md): validates the request, runs it as one turn
// through the TurnService, and shapes the answer as a completion or, for `stream: true`, as SSE chunks
// written as the turn's events arrive. A client that disconnects, stops reading (facade.write_timeout) or
// falls more than daemon.max_outbox_bytes behind a stream cancels its turn.
#include "facade/chat_request.hpp"
#include "facade/facade_context.hpp"
#include "facade/http_exchange.hpp"

namespace ksid::facade {

// What both API routes check a request against: this instance's id, facade.enable_tools, shutdown, models.
ChatPolicy chat_policy_of(const FacadeContext& context);

boost::asio::awaitable<HttpResponse> chat_completions_endpoint(FacadeContext& context,
                                                               HttpExchange& exchange);

} // namespace ksid::facade
