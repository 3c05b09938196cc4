#pragma once
// The facade's small endpoints, each a function of the request: /health, /metrics, /v1/models and
// /v1/models/{id} in either API's format. POST /v1/chat/completions is in chat_completions.hpp, the
// Anthropic routes in messages.hpp.
#include "facade/facade_context.hpp"
#include "facade/http_exchange.hpp"

#include <string>

namespace ksid::facade {

HttpResponse health_endpoint(const FacadeContext& context);
HttpResponse metrics_endpoint(const FacadeContext& context);
// OpenAI's model objects, or Anthropic's (a request with `anthropic-version`).
HttpResponse models_endpoint(const FacadeContext& context, ApiDialect dialect);
HttpResponse model_endpoint(const FacadeContext& context, const std::string& id, ApiDialect dialect);

} // namespace ksid::facade
