#pragma once
// The facade's API keys: where they come from (facade.api_keys, KSID_API_KEYS, facade.api_keys_file), the
// rule that a non-loopback address needs them, and the key check (constant time).
#include "config/config.hpp"
#include "protocol/openai_chat.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::daemon {
class UsageGovernor;
}

namespace ksid::facade {

// The keys, or an error text when the facade must not start. other_keys: keys there are besides the
// configured ones (the usage database's), which also let the facade serve a non-loopback address.
std::optional<std::string> resolve_api_keys(const config::Config& config, std::vector<std::string>& keys,
                                            std::size_t other_keys = 0);

// nullopt when the request carries one of `keys` (or there are none), else the 401. The key comes from
// `x-api-key` (Anthropic's SDKs, Claude Code) when that header is present, else from
// `Authorization: Bearer <key>` (OpenAI's SDKs, Anthropic's with an auth token).
std::optional<protocol::OpenAIError> authenticate(std::string_view authorization, std::string_view x_api_key,
                                                  const std::vector<std::string>& keys);

bool is_loopback_host(const std::string& host);

// Who sends a request, once its key is checked: the tenant (a key's name; "" when the facade has no keys
// and serves loopback only) and whether it may use the admin routes.
struct Caller {
    std::string tenant;
    bool admin = false;
};

struct PresentedCredentials {
    std::string_view authorization; // Authorization
    std::string_view x_api_key;     // x-api-key
    std::string_view cookie;        // Cookie: the dashboard's ksid_admin, for admin routes only
    std::string_view dashboard_header; // X-Ksid-Dashboard: a cookie's change must carry it (no CSRF)
    std::string_view method;
    bool admin_route = false;
};

// nullopt and `caller` set when the request may go on; else the 401 or 403. Without a governor the
// plain key list decides (everyone is an admin there).
std::optional<protocol::OpenAIError> identify(const daemon::UsageGovernor* governor,
                                              const std::vector<std::string>& keys,
                                              const PresentedCredentials& presented, Caller& caller);

// The value of cookie `name` in a Cookie header ("" when absent).
std::string_view cookie_value(std::string_view cookie_header, std::string_view name);

inline constexpr std::string_view admin_cookie = "ksid_admin";

} // namespace ksid::facade
