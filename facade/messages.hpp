#pragma once
// Anthropic's Messages API on the facade: POST /v1/messages runs one turn through the TurnService, as the
// OpenAI route does (same plan, queue, sessions, limits and cancellation), answered as a `message` or, with
// `stream: true`, as Anthropic's named SSE events (ping while the CLI is silent). POST
// /v1/messages/count_tokens validates the same body and answers an estimate (protocol/anthropic_messages).
#include "facade/facade_context.hpp"
#include "facade/http_exchange.hpp"

namespace ksid::facade {

boost::asio::awaitable<HttpResponse> messages_endpoint(FacadeContext& context, HttpExchange& exchange);
HttpResponse count_tokens_endpoint(const FacadeContext& context, HttpExchange& exchange);

} // namespace ksid::facade
