#pragma once
// A team's view of one ksid: a caller's own usage and limits (GET /v1/usage), the Claude subscription's
// limits (GET /v1/usage/quota), and, for admin keys, the keys (GET/POST /admin/keys, PATCH/DELETE
// /admin/keys/{name}), everyone's usage (GET /admin/usage) and cancelling a turn (DELETE
// /admin/turns/{id}). Answers come from the UsageGovernor and its ledger.
#include "daemon/services/usage_db.hpp"
#include "facade/facade_context.hpp"
#include "facade/http_exchange.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace ksid::facade {

boost::asio::awaitable<HttpResponse> usage_endpoint(FacadeContext& context, HttpExchange& x);
HttpResponse quota_endpoint(FacadeContext& context);
HttpResponse admin_keys_endpoint(FacadeContext& context, HttpExchange& x);
HttpResponse admin_key_endpoint(FacadeContext& context, HttpExchange& x, const std::string& name);
boost::asio::awaitable<HttpResponse> admin_usage_endpoint(FacadeContext& context, HttpExchange& x);
HttpResponse admin_turn_endpoint(FacadeContext& context, const std::string& job_id);

// The range (start, end: this month by default) and grouping (group_by: key (admin only), model, day;
// by default key for an admin, model for a key's own usage) of a usage query, and for an admin one key
// (key=NAME); an error text when a parameter is wrong. GET /v1/usage, /admin/usage and `ksid usage`.
std::optional<std::string> read_usage_query(std::string_view query, daemon::UsageQuery& q, bool admin);

// A query parameter, percent-decoded ("" when absent); `found` says whether it was there.
std::string query_parameter(std::string_view query, std::string_view name, bool* found = nullptr);
// A time in a query: Unix seconds ("1764633600", "1764633600.5"), a UTC date ("2026-12-02") or a UTC
// time ("2026-12-02T10:00:00Z"); nullopt when it is none of them.
std::optional<double> parse_query_time(std::string_view text);

} // namespace ksid::facade
