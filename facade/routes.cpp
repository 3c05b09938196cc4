#include "facade/routes.hpp"

namespace ksid::facade {

namespace {

// The {id} of `path` under `pattern`, or nullopt when the path is not the pattern's.
std::optional<std::string> match_path(std::string_view pattern, std::string_view path) {
    constexpr std::string_view param = "{id}";
    if (!pattern.ends_with(param)) return pattern == path ? std::optional<std::string>("") : std::nullopt;
    const auto prefix = pattern.substr(0, pattern.size() - param.size());
    if (!path.starts_with(prefix) || path.size() == prefix.size()) return std::nullopt;
    return std::string(path.substr(prefix.size()));
}

} // namespace

RouteMatch RouteTable::match(std::string_view method, std::string_view path) const {
    RouteMatch m;
    for (const auto& route : routes_) {
        auto parameter = match_path(route.pattern, path);
        if (!parameter) continue;
        for (const auto& allowed : route.methods)
            if (allowed == method) {
                m.kind = RouteMatch::Kind::found;
                m.route = &route;
                m.parameter = std::move(*parameter);
                return m;
            }
        m.kind = RouteMatch::Kind::method_not_allowed;
        m.route = &route;
        for (const auto& allowed : route.methods)
            m.allow += (m.allow.empty() ? "" : ", ") + allowed;
    }
    return m;
}

const RouteTable& facade_routes() {
    static const RouteTable table({
        {"/health", {"GET", "HEAD"}, Endpoint::health, false, RouteDialect::openai},
        {"/metrics", {"GET"}, Endpoint::metrics, true, RouteDialect::openai},
        {"/v1/models", {"GET"}, Endpoint::models},
        {"/v1/models/{id}", {"GET"}, Endpoint::model},
        {"/v1/chat/completions", {"POST"}, Endpoint::chat_completions, true, RouteDialect::openai},
        {"/v1/messages", {"POST"}, Endpoint::messages, true, RouteDialect::anthropic},
        {"/v1/messages/count_tokens", {"POST"}, Endpoint::count_tokens, true, RouteDialect::anthropic},
        {"/v1/usage", {"GET"}, Endpoint::usage, true, RouteDialect::openai},
        {"/v1/usage/quota", {"GET"}, Endpoint::quota, true, RouteDialect::openai},
        {"/admin/keys", {"GET", "POST"}, Endpoint::admin_keys, true, RouteDialect::openai, true},
        {"/admin/keys/{id}", {"PATCH", "DELETE"}, Endpoint::admin_key, true, RouteDialect::openai, true},
        {"/admin/usage", {"GET"}, Endpoint::admin_usage, true, RouteDialect::openai, true},
        {"/admin/state", {"GET"}, Endpoint::admin_state, true, RouteDialect::openai, true},
        {"/admin/events", {"GET"}, Endpoint::admin_events, true, RouteDialect::openai, true},
        {"/admin/turns/{id}", {"DELETE"}, Endpoint::admin_turn, true, RouteDialect::openai, true},
        {"/dashboard", {"GET"}, Endpoint::dashboard, true, RouteDialect::openai, true},
    });
    return table;
}

ApiDialect dialect_of(const Route* route, std::string_view anthropic_version) {
    const auto dialect = route ? route->dialect : RouteDialect::by_header;
    if (dialect == RouteDialect::by_header)
        return anthropic_version.empty() ? ApiDialect::openai : ApiDialect::anthropic;
    return dialect == RouteDialect::anthropic ? ApiDialect::anthropic : ApiDialect::openai;
}

} // namespace ksid::facade
