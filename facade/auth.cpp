#include "facade/auth.hpp"

#include "daemon/core/filesystem.hpp"
#include "daemon/services/usage_governor.hpp"

#include <boost/asio/ip/address.hpp>

#include <sstream>

namespace ksid::facade {

namespace {

// Constant-time comparison: the time does not depend on where the first difference is.
bool equal_constant_time(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

protocol::OpenAIError unauthorized(std::string message) {
    return protocol::OpenAIError{401, "authentication_error", std::move(message), std::nullopt,
                                 std::string("invalid_api_key")};
}

} // namespace

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(host, ec);
    return !ec && addr.is_loopback();
}

std::optional<std::string> resolve_api_keys(const config::Config& cfg, std::vector<std::string>& keys,
                                            std::size_t other_keys) {
    keys = cfg.facade.api_keys;
    if (!cfg.facade.api_keys_file.empty()) {
        auto text = daemon::read_small_file(cfg.facade.api_keys_file, 1 << 20);
        if (!text) return "facade.api_keys_file: cannot read " + cfg.facade.api_keys_file;
        std::istringstream lines(*text);
        for (std::string line; std::getline(lines, line);) {
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
                line.pop_back();
            const auto start = line.find_first_not_of(" \t");
            if (start == std::string::npos || line[start] == '#') continue;
            keys.push_back(line.substr(start));
        }
    }
    for (const auto& k : keys)
        if (k.size() < 8) return "facade API keys must be at least 8 characters";
    for (const auto& k : cfg.facade.admin_keys)
        if (k.size() < 8) return "facade.admin_keys: keys must be at least 8 characters";
    if (!is_loopback_host(cfg.facade.host) && keys.empty() && cfg.facade.admin_keys.empty() && other_keys == 0)
        return "refusing to serve the HTTP facade on " + cfg.facade.host +
               " without API keys: add one with `ksid keys add NAME`, set facade.api_keys, "
               "facade.api_keys_file or KSID_API_KEYS, or listen on 127.0.0.1";
    return std::nullopt;
}

std::optional<protocol::OpenAIError> authenticate(std::string_view authorization, std::string_view x_api_key,
                                                  const std::vector<std::string>& keys) {
    if (keys.empty()) return std::nullopt;
    std::string_view presented = x_api_key;
    if (presented.empty()) {
        if (authorization.empty())
            return unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or "
                                "'x-api-key: <key>'.");
        if (!authorization.starts_with("Bearer ")) return unauthorized("Malformed Authorization header.");
        presented = authorization.substr(7);
    }
    bool ok = false;
    for (const auto& key : keys)
        ok |= equal_constant_time(presented, key); // check every key
    if (!ok) return unauthorized("Incorrect API key provided.");
    return std::nullopt;
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        const auto semi = header.find(';');
        auto part = header.substr(0, semi);
        header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
        while (!part.empty() && part.front() == ' ')
            part.remove_prefix(1);
        const auto eq = part.find('=');
        if (eq != std::string_view::npos && part.substr(0, eq) == name) return part.substr(eq + 1);
    }
    return {};
}

std::optional<protocol::OpenAIError> identify(const daemon::UsageGovernor* governor,
                                              const std::vector<std::string>& keys,
                                              const PresentedCredentials& p, Caller& caller) {
    if (!governor) {
        if (auto denied = authenticate(p.authorization, p.x_api_key, keys)) return denied;
        caller = Caller{"", true};
        return std::nullopt;
    }
    if (!governor->has_keys()) { // loopback only (resolve_api_keys): everyone local is trusted
        caller = Caller{"", true};
        return std::nullopt;
    }
    std::string_view presented = p.x_api_key;
    bool from_cookie = false;
    if (presented.empty() && !p.authorization.empty()) {
        if (!p.authorization.starts_with("Bearer ")) return unauthorized("Malformed Authorization header.");
        presented = p.authorization.substr(7);
    }
    if (presented.empty() && p.admin_route) {
        presented = cookie_value(p.cookie, admin_cookie);
        from_cookie = !presented.empty();
    }
    if (presented.empty())
        return unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or "
                            "'x-api-key: <key>'.");
    const auto* tenant = governor->find_by_secret(presented);
    if (!tenant) return unauthorized("Incorrect API key provided.");
    if (p.admin_route && !tenant->admin)
        return protocol::OpenAIError{403, "permission_error",
                                     "the key '" + tenant->name +
                                         "' is not an admin key (ksid keys add NAME --admin, or facade.admin_keys)",
                                     std::nullopt, std::string("not_admin")};
    // A change made with the dashboard's cookie must come from the dashboard's own script: a page
    // elsewhere cannot set this header on a cross-site request.
    if (from_cookie && p.method != "GET" && p.method != "HEAD" && p.dashboard_header != "1")
        return protocol::OpenAIError{403, "permission_error",
                                     "a change made with the dashboard's cookie needs the header X-Ksid-Dashboard: 1",
                                     std::nullopt, std::string("csrf")};
    caller = Caller{tenant->name, tenant->admin};
    return std::nullopt;
}

} // namespace ksid::facade
