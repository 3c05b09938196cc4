#pragma once
// The facade's small endpoints, each a function of the request: /health, /metrics, /v1/models and
// /v1/models/{id}. POST /v1/chat/completions is in chat_completions.hpp.
#include "facade/facade_context.hpp"
#include "facade/http_exchange.hpp"

#include <string>

namespace ksid::facade {

HttpResponse health_endpoint(const FacadeContext& context);
HttpResponse metrics_endpoint(const FacadeContext& context);
HttpResponse models_endpoint(const FacadeContext& context);
HttpResponse model_endpoint(const FacadeContext& context, const std::string& id);

} // namespace ksid::facade
