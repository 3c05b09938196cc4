#pragma once
// The live dashboard (GET /dashboard): one page served from the binary (facade/dashboard.html), fed by
// GET /admin/events, an SSE stream of the daemon's state once a second (GET /admin/state: the same
// snapshot once). The page signs in with `/dashboard?key=<admin key>`: the key goes into an HttpOnly,
// SameSite=Strict cookie and the address bar loses it.
#include "facade/facade_context.hpp"
#include "facade/http_exchange.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <optional>

namespace ksid::facade {

extern const char* const dashboard_page_html; // generated from facade/dashboard.html

// `/dashboard?key=...`: the redirect that sets the cookie, or the 401/403 (nullopt: no key given).
std::optional<HttpResponse> dashboard_sign_in(FacadeContext& context, HttpExchange& x);
HttpResponse dashboard_endpoint(FacadeContext& context);
boost::json::object dashboard_snapshot(FacadeContext& context);
HttpResponse admin_state_endpoint(FacadeContext& context);
boost::asio::awaitable<HttpResponse> admin_events_endpoint(FacadeContext& context, HttpExchange& x);

} // namespace ksid::facade
