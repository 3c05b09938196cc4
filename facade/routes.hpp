#pragma once
// The facade's route table, pure: path × method → a route. A path that no route has is 404; a path that
// has routes but not for this method is 405 with the methods it has (Allow). Patterns are exact paths or
// a prefix ending in "{id}" ("/v1/models/{id}"), whose remainder is the parameter.
#include "facade/http_response.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::facade {

enum class Endpoint {
    health,
    metrics,
    models,
    model,
    chat_completions,
    messages,
    count_tokens,
    usage,       // GET /v1/usage: the caller's own usage and limits
    quota,       // GET /v1/usage/quota: the Claude subscription's limits
    admin_keys,  // GET, POST /admin/keys
    admin_key,   // PATCH, DELETE /admin/keys/{name}
    admin_usage, // GET /admin/usage
    admin_state, // GET /admin/state: the dashboard's snapshot
    admin_events, // GET /admin/events: the snapshot as SSE, once a second
    admin_turn,  // DELETE /admin/turns/{id}: cancel a turn
    dashboard,   // GET /dashboard
};

// The API a route's answers (errors included) follow: OpenAI's, Anthropic's, or Anthropic's when the
// request carries an `anthropic-version` header (the Anthropic SDKs and Claude Code always send it).
enum class RouteDialect { openai, anthropic, by_header };

struct Route {
    std::string pattern; // "/v1/models" or "/v1/models/{id}"
    std::vector<std::string> methods;
    Endpoint endpoint;
    bool needs_auth = true;
    RouteDialect dialect = RouteDialect::by_header;
    bool admin = false; // needs an admin key (or its cookie) whenever the facade has keys
};

struct RouteMatch {
    enum class Kind { found, not_found, method_not_allowed };
    Kind kind = Kind::not_found;
    const Route* route = nullptr; // found, and method_not_allowed: the route of that path
    std::string parameter;        // the {id} part
    std::string allow;            // method_not_allowed: "GET, HEAD"
};

class RouteTable {
public:
    explicit RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {}
    RouteMatch match(std::string_view method, std::string_view path) const;

private:
    std::vector<Route> routes_;
};

// The facade's routes.
const RouteTable& facade_routes();

// The dialect of a request to `route` (nullptr: no route has its path); anthropic_version: the header.
ApiDialect dialect_of(const Route* route, std::string_view anthropic_version);

} // namespace ksid::facade
