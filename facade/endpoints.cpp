#include "facade/endpoints.hpp"

#include "daemon/services/turn_service.hpp"
#include "facade/http_errors.hpp"
#include "protocol/anthropic_messages.hpp"
#include "protocol/openai_chat.hpp"
#include "protocol/timestamp.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace ksid::facade {
namespace json = boost::json;

namespace {

HttpResponse json_response(const json::value& body) {
    HttpResponse res;
    res.body = json::serialize(body);
    return res;
}

long long seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t).count();
}

} // namespace

long long FacadeContext::created_at() const {
    const long long now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return now - seconds_since(started_at);
}

HttpResponse health_endpoint(const FacadeContext& c) {
    const auto q = c.deps.turns.queue_stats();
    return json_response(json::object{{"status", c.deps.turns.stopping() ? "stopping" : "ok"},
                                      {"backend", c.deps.config.api_shim.enabled ? "api_shim" : "cli"},
                                      {"queue", json::object{{"running", q.running},
                                                             {"pending", q.pending},
                                                             {"max_concurrent", q.max_concurrent},
                                                             {"max_pending", q.max_pending}}},
                                      {"uptime_seconds", seconds_since(c.started_at)}});
}

HttpResponse metrics_endpoint(const FacadeContext& c) {
    HttpResponse res;
    res.content_type = "text/plain; version=0.0.4";
    res.body = c.metrics.render(c.deps.turns.queue_stats(), c.deps.turns.stats(),
                                c.open_connections ? c.open_connections() : 0, c.deps.upstream, c.deps.pool);
    return res;
}

namespace {

// created_at for Anthropic's model objects: when ksid started, RFC 3339.
std::string started_rfc3339(const FacadeContext& c) {
    const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(c.created_at()));
    return protocol::legacy_timestamp(t); // whole seconds: no fraction, a literal Z
}

} // namespace

HttpResponse models_endpoint(const FacadeContext& c, ApiDialect dialect) {
    const auto& models = c.deps.config.models.available;
    if (dialect == ApiDialect::anthropic)
        return json_response(protocol::anthropic_model_list_body(models, started_rfc3339(c)));
    return json_response(protocol::model_list_body(models, c.created_at()));
}

HttpResponse model_endpoint(const FacadeContext& c, const std::string& id, ApiDialect dialect) {
    const auto& models = c.deps.config.models.available;
    if (std::find(models.begin(), models.end(), id) == models.end())
        return error_response(protocol::OpenAIError{404, "invalid_request_error",
                                                    "The model '" + id + "' does not exist", std::nullopt,
                                                    std::string("model_not_found")},
                              dialect);
    if (dialect == ApiDialect::anthropic)
        return json_response(protocol::anthropic_model_body(id, started_rfc3339(c)));
    return json_response(protocol::model_body(id, c.created_at()));
}

} // namespace ksid::facade
