#include "facade/admin_endpoints.hpp"

#include "daemon/services/usage_governor.hpp"
#include "facade/http_errors.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/timestamp.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>
#include <ctime>

namespace ksid::facade {
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

HttpResponse json_response(const json::value& body, int status = 200) {
    HttpResponse res;
    res.status = status;
    res.body = json::serialize(body);
    return res;
}

HttpResponse bad_request(std::string message, std::optional<std::string> param = std::nullopt) {
    return error_response(protocol::OpenAIError{400, "invalid_request_error", std::move(message),
                                                std::move(param), std::nullopt});
}

HttpResponse not_found(std::string message) {
    return error_response(
        protocol::OpenAIError{404, "invalid_request_error", std::move(message), std::nullopt, std::nullopt});
}

HttpResponse ledger_off() {
    return error_response(protocol::OpenAIError{
        404, "invalid_request_error", "the usage ledger is off on this server (usage.enabled: false)",
        std::nullopt, std::string("usage_disabled")});
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

json::object key_json(const daemon::StoredKey& k) {
    return json::object{{"name", k.name},
                        {"hint", k.hint},
                        {"admin", k.admin},
                        {"source", "database"},
                        {"created", k.created},
                        {"revoked", k.revoked ? json::value(*k.revoked) : json::value(nullptr)},
                        {"limits", protocol::key_limits_json(k.limits)}};
}

std::optional<json::object> body_object(HttpExchange& x, std::string& error) {
    if (x.body().empty()) return json::object{};
    auto v = protocol::parse_json_text(x.body(), 16);
    if (!v || !v->is_object()) {
        error = "the body must be a JSON object";
        return std::nullopt;
    }
    return v->get_object();
}

} // namespace

std::optional<std::string> read_usage_query(std::string_view query, daemon::UsageQuery& q, bool admin) {
    const double now = protocol::unix_time_now();
    q.start = protocol::utc_month_start(now);
    q.end = now + 1;
    bool found = false;
    if (auto v = query_parameter(query, "start", &found); found) {
        auto t = parse_query_time(v);
        if (!t) return "start: expected Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ";
        q.start = *t;
    }
    if (auto v = query_parameter(query, "end", &found); found) {
        auto t = parse_query_time(v);
        if (!t) return "end: expected Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ";
        q.end = *t;
    }
    if (q.end <= q.start) return "end must be after start";
    q.by_key = admin;
    q.by_model = !admin;
    q.by_day = false;
    if (auto v = query_parameter(query, "group_by", &found); found) {
        q.by_key = q.by_model = q.by_day = false;
        std::string_view rest = v;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const auto part = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            if (part == "key" && admin)
                q.by_key = true;
            else if (part == "model")
                q.by_model = true;
            else if (part == "day")
                q.by_day = true;
            else if (!part.empty())
                return "group_by: expected a comma-separated list of " + std::string(admin ? "key, " : "") +
                       "model, day";
        }
    }
    if (admin) {
        if (auto v = query_parameter(query, "key", &found); found) q.key = v;
    }
    return std::nullopt;
}

std::string query_parameter(std::string_view query, std::string_view name, bool* found) {
    if (found) *found = false;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto eq = part.find('=');
        if (percent_decode(part.substr(0, eq)) != name) continue;
        if (found) *found = true;
        return eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1));
    }
    return {};
}

std::optional<double> parse_query_time(std::string_view text) {
    if (text.empty() || text.size() > 32) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && p == text.data() + text.size() && std::isfinite(v) && v >= 0) return v;
    std::tm tm{};
    const std::string s(text);
    const char* end = nullptr;
    if (s.size() == 10)
        end = strptime(s.c_str(), "%Y-%m-%d", &tm);
    else if (s.size() == 20)
        end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end != '\0') return std::nullopt;
    return static_cast<double>(timegm(&tm));
}

asio::awaitable<HttpResponse> usage_endpoint(FacadeContext& c, HttpExchange& x) {
    auto* g = c.deps.usage;
    if (!g) co_return ledger_off();
    daemon::UsageQuery q;
    if (auto err = read_usage_query(x.query(), q, false)) co_return bad_request(*err);
    const std::string tenant = x.tenant().empty() ? "open" : x.tenant();
    q.key = tenant;
    std::string error;
    auto rows = co_await g->usage(q, error);
    if (!rows)
        co_return error == "the usage ledger is off (usage.enabled: false)"
            ? ledger_off()
            : error_response(protocol::OpenAIError{500, "server_error", "usage ledger: " + error,
                                                   std::nullopt, std::nullopt});
    json::object body = g->tenant_usage_json(tenant);
    body["object"] = "usage";
    body["start"] = q.start;
    body["end"] = q.end;
    body["data"] = std::move(*rows);
    co_return json_response(body);
}

HttpResponse quota_endpoint(FacadeContext& c) {
    json::array data = c.deps.usage ? c.deps.usage->subscription_json() : json::array{};
    return json_response(json::object{{"object", "list"}, {"data", std::move(data)}});
}

HttpResponse admin_keys_endpoint(FacadeContext& c, HttpExchange& x) {
    auto* g = c.deps.usage;
    if (!g) return ledger_off();
    if (x.method() == "GET") {
        json::array data;
        for (const auto& k : g->stored_keys())
            data.push_back(key_json(k));
        for (std::size_t i = 0; i < c.api_keys.size(); ++i) // facade.api_keys, the key file, KSID_API_KEYS
            data.push_back(json::object{
                {"name", "config#" + std::to_string(i + 1)}, {"source", "configuration"}, {"admin", false}});
        for (std::size_t i = 0; i < c.deps.config.facade.admin_keys.size(); ++i)
            data.push_back(json::object{
                {"name", "admin#" + std::to_string(i + 1)}, {"source", "configuration"}, {"admin", true}});
        return json_response(json::object{{"object", "list"}, {"data", std::move(data)}});
    }
    std::string error;
    auto body = body_object(x, error);
    if (!body) return bad_request(error);
    daemon::StoredKey k;
    const auto* name = body->if_contains("name");
    if (!name || !name->is_string()) return bad_request("name: required, a string", "name");
    k.name = std::string(name->get_string());
    if (const auto* admin = body->if_contains("admin")) {
        if (!admin->is_bool()) return bad_request("admin: expected true or false", "admin");
        k.admin = admin->get_bool();
    }
    if (const auto* limits = body->if_contains("limits")) {
        if (!limits->is_object()) return bad_request("limits: expected an object", "limits");
        if (auto err = protocol::apply_key_limits(limits->get_object(), k.limits))
            return bad_request(*err, "limits");
    }
    for (const auto& [field, v] : *body)
        if (field != "name" && field != "admin" && field != "limits")
            return bad_request("unknown field '" + std::string(field) + "' (known: name, admin, limits)");
    const std::string secret = daemon::new_key_secret();
    k.secret_sha256 = daemon::secret_digest(secret);
    k.hint = secret.substr(0, 9) + "…";
    k.created = protocol::unix_time_now();
    if (auto err = g->add_key(k)) {
        const bool exists = err->find("exists") != std::string::npos;
        return error_response(protocol::OpenAIError{exists ? 409 : 400, "invalid_request_error", *err,
                                                    std::string("name"), std::nullopt});
    }
    json::object out = key_json(k);
    out["key"] = secret; // shown once: only its digest is kept
    return json_response(out, 201);
}

HttpResponse admin_key_endpoint(FacadeContext& c, HttpExchange& x, const std::string& name) {
    auto* g = c.deps.usage;
    if (!g) return ledger_off();
    if (x.method() == "DELETE") {
        if (auto err = g->revoke_key(name)) return not_found(*err);
        return json_response(json::object{{"name", name}, {"revoked", true}});
    }
    std::string error;
    auto body = body_object(x, error);
    if (!body) return bad_request(error);
    std::optional<bool> admin;
    json::object limits;
    for (const auto& [field, v] : *body) {
        if (field == "admin") {
            if (!v.is_bool()) return bad_request("admin: expected true or false", "admin");
            admin = v.get_bool();
        } else if (field == "limits") {
            if (!v.is_object()) return bad_request("limits: expected an object", "limits");
            limits = v.get_object();
        } else {
            return bad_request("unknown field '" + std::string(field) + "' (known: admin, limits)");
        }
    }
    if (auto err = g->set_key(name, limits, admin))
        return err->starts_with("no key") ? not_found(*err) : bad_request(*err, "limits");
    for (const auto& k : g->stored_keys())
        if (k.name == name && !k.revoked) return json_response(key_json(k));
    return not_found("no key named '" + name + "'");
}

asio::awaitable<HttpResponse> admin_usage_endpoint(FacadeContext& c, HttpExchange& x) {
    auto* g = c.deps.usage;
    if (!g) co_return ledger_off();
    daemon::UsageQuery q;
    if (auto err = read_usage_query(x.query(), q, true)) co_return bad_request(*err);
    std::string error;
    auto rows = co_await g->usage(q, error);
    if (!rows) co_return ledger_off();
    json::array group_by;
    if (q.by_key) group_by.emplace_back("key");
    if (q.by_model) group_by.emplace_back("model");
    if (q.by_day) group_by.emplace_back("day");
    co_return json_response(json::object{{"object", "list"},
                                         {"start", q.start},
                                         {"end", q.end},
                                         {"group_by", std::move(group_by)},
                                         {"data", std::move(*rows)}});
}

HttpResponse admin_turn_endpoint(FacadeContext& c, const std::string& job_id) {
    if (!c.deps.usage || !c.deps.usage->cancel(job_id))
        return not_found("no running or queued turn '" + job_id + "'");
    return json_response(json::object{{"id", job_id}, {"cancelled", true}});
}

} // namespace ksid::facade
