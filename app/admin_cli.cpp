#include "app/admin_cli.hpp"

#include "config/config_loader.hpp"
#include "daemon/core/filesystem.hpp"
#include "daemon/services/usage_db.hpp"
#include "facade/admin_endpoints.hpp"
#include "protocol/timestamp.hpp"

#include <boost/json/serialize.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <optional>

namespace ksid::app {
namespace json = boost::json;

namespace {

constexpr const char* usage_text =
    "usage: ksid keys add NAME [--admin] [--LIMIT VALUE ...]   a new key; its secret is printed once\n"
    "       ksid keys list [--json]\n"
    "       ksid keys set NAME [--admin yes|no] [--LIMIT VALUE ...]\n"
    "       ksid keys revoke NAME\n"
    "       ksid usage [--since TIME] [--until TIME] [--by key,model,day] [--key NAME] [--json]\n"
    "  common: --config FILE (else KSID_CONFIG, else config/api_shim.yaml): where usage.database is\n"
    "  LIMIT: concurrent, rpm, tpm, daily-requests, daily-tokens, daily-usd, monthly-requests,\n"
    "         monthly-tokens, monthly-usd (a number, or none), models (a,b or none), priority (0-9),\n"
    "         tools (yes|no)\n"
    "  TIME: Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC); default: this month\n";

std::string utc(double t) {
    const std::time_t s = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char b[32];
    std::strftime(b, sizeof b, "%Y-%m-%d %H:%M", &tm);
    return b;
}

int bad(const std::string& why) {
    std::cerr << "ksid: " << why << "\n\n" << usage_text;
    return 2;
}

int fail(const std::string& why) {
    std::cerr << "ksid: " << why << "\n";
    return 1;
}

struct Parsed {
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> options; // --name value ("" for flags)
    std::optional<std::string> config;
    bool json = false;
    bool admin_flag = false;
};

std::optional<std::string> parse(const std::vector<std::string>& args, std::size_t from, Parsed& p) {
    for (std::size_t i = from; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (!a.starts_with("--")) {
            p.positional.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        const auto eq = name.find('=');
        const bool inline_value = eq != std::string::npos;
        if (inline_value) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (name == "json") {
            p.json = true;
            continue;
        }
        if (name == "admin" && !inline_value &&
            (i + 1 >= args.size() || args[i + 1].starts_with("--") ||
             (args[i + 1] != "yes" && args[i + 1] != "no"))) {
            p.admin_flag = true;
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= args.size()) return "--" + name + " needs a value";
            value = args[++i];
        }
        if (name == "config")
            p.config = value;
        else
            p.options.emplace_back(name, value);
    }
    return std::nullopt;
}

std::unique_ptr<daemon::UsageDb> open_database(const Parsed& p, std::string& error) {
    config::LoadRequest request;
    request.file = p.config;
    if (!request.file)
        if (const char* env = std::getenv("KSID_CONFIG"); env && *env) request.file = env;
    auto cfg = config::load_config(request);
    if (!cfg) {
        error = "configuration error: " + cfg.error().message;
        return nullptr;
    }
    if (!cfg->usage.enabled) {
        error = "the usage database is off (usage.enabled: false)";
        return nullptr;
    }
    const auto& path = cfg->usage.database;
    if (const auto slash = path.find_last_of('/'); slash != std::string::npos)
        if (auto ec = daemon::ensure_directory(path.substr(0, slash))) {
            error = "cannot create " + path.substr(0, slash) + ": " + ec.message();
            return nullptr;
        }
    return daemon::UsageDb::open(path, error);
}

std::string limits_text(const protocol::KeyLimits& l) {
    std::string out;
    const auto j = protocol::key_limits_json(l);
    for (const auto& [k, v] : j) {
        if (v.is_null() || (k == "priority" && v == 5) || (k == "tools" && v == true)) continue;
        std::string name(k);
        for (auto& c : name)
            if (c == '_') c = '-';
        std::string value = v.is_array() ? "" : json::serialize(v);
        if (v.is_array())
            for (const auto& m : v.get_array())
                value += (value.empty() ? "" : ",") + std::string(m.get_string());
        out += (out.empty() ? "" : " ") + name + "=" + value;
    }
    return out.empty() ? "no limits" : out;
}

int keys_command(const Parsed& p) {
    if (p.positional.empty()) return bad("keys: add, list, set or revoke?");
    const std::string& verb = p.positional[0];
    std::string error;
    auto db = open_database(p, error);
    if (!db) return fail(error);
    if (verb == "list") {
        auto keys = db->keys(error);
        if (!keys) return fail(error);
        if (p.json) {
            json::array a;
            for (const auto& k : *keys)
                a.push_back(
                    json::object{{"name", k.name},
                                 {"hint", k.hint},
                                 {"admin", k.admin},
                                 {"created", k.created},
                                 {"revoked", k.revoked ? json::value(*k.revoked) : json::value(nullptr)},
                                 {"limits", protocol::key_limits_json(k.limits)}});
            std::cout << json::serialize(a) << "\n";
            return 0;
        }
        if (keys->empty()) std::cout << "no keys (add one with: ksid keys add NAME)\n";
        for (const auto& k : *keys)
            std::cout << k.name << "  " << k.hint << "  " << (k.admin ? "admin  " : "")
                      << (k.revoked ? "revoked " + utc(*k.revoked) : "created " + utc(k.created)) << "  "
                      << limits_text(k.limits) << "\n";
        return 0;
    }
    if (p.positional.size() != 2) return bad("keys " + verb + ": one NAME");
    const std::string& name = p.positional[1];
    if (verb == "revoke") {
        if (!p.options.empty() || p.admin_flag) return bad("keys revoke takes only a NAME");
        if (auto err = db->revoke_key(name, protocol::unix_time_now())) return fail(*err);
        std::cout << "revoked " << name << "\n";
        return 0;
    }
    if (verb != "add" && verb != "set") return bad("keys: unknown command '" + verb + "'");
    daemon::StoredKey key;
    if (verb == "set") {
        auto keys = db->keys(error);
        if (!keys) return fail(error);
        bool found = false;
        for (auto& k : *keys)
            if (k.name == name && !k.revoked) {
                key = k;
                found = true;
            }
        if (!found) return fail("no key named '" + name + "'");
    }
    key.name = name;
    if (p.admin_flag) key.admin = true;
    for (const auto& [option, value] : p.options) {
        if (option == "admin") {
            if (value != "yes" && value != "no") return bad("--admin: yes or no");
            key.admin = value == "yes";
            continue;
        }
        if (auto err = protocol::apply_key_limit_option(option, value, key.limits)) return bad(*err);
    }
    if (verb == "set") {
        if (auto err = db->update_key(key)) return fail(*err);
        std::cout << name << ": " << limits_text(key.limits) << (key.admin ? " (admin)" : "") << "\n";
        return 0;
    }
    if (!protocol::is_valid_key_name(name) || name == "local" || name == "open")
        return bad(
            "a key's name is 1 to 64 of A-Z a-z 0-9 . _ - (not local or open), not starting with . or -");
    const std::string secret = daemon::new_key_secret();
    key.secret_sha256 = daemon::secret_digest(secret);
    key.hint = secret.substr(0, 9) + "…";
    key.created = protocol::unix_time_now();
    if (auto err = db->add_key(key)) return fail(*err);
    if (p.json) {
        std::cout << json::serialize(json::object{{"name", name},
                                                  {"key", secret},
                                                  {"admin", key.admin},
                                                  {"limits", protocol::key_limits_json(key.limits)}})
                  << "\n";
    } else {
        std::cout << secret << "\n";
        std::cerr << "key '" << name << "' added (" << limits_text(key.limits) << (key.admin ? ", admin" : "")
                  << "); the secret above is shown only now\n";
    }
    return 0;
}

int usage_command(const Parsed& p) {
    if (!p.positional.empty()) return bad("usage takes no NAME (use --key NAME)");
    std::string query; // the same parameters as GET /admin/usage
    for (const auto& [option, value] : p.options) {
        const std::string name = option == "since"   ? "start"
                                 : option == "until" ? "end"
                                 : option == "by"    ? "group_by"
                                                     : option;
        if (name != "start" && name != "end" && name != "group_by" && name != "key")
            return bad("usage: unknown option --" + option);
        query += (query.empty() ? "" : "&") + name + "=" + value;
    }
    daemon::UsageQuery q;
    if (auto err = facade::read_usage_query(query, q, true)) return bad("usage: " + *err);
    std::string error;
    auto db = open_database(p, error);
    if (!db) return fail(error);
    auto rows = db->summary(q, error);
    if (!rows) return fail(error);
    if (p.json) {
        json::array a;
        for (const auto& r : *rows)
            a.push_back(json::object{{"key", r.key},
                                     {"model", r.model},
                                     {"day", r.day},
                                     {"requests", r.requests},
                                     {"refused", r.refused},
                                     {"errors", r.errors},
                                     {"input_tokens", r.input_tokens},
                                     {"output_tokens", r.output_tokens},
                                     {"cache_tokens", r.cache_tokens},
                                     {"counted_tokens", r.counted_tokens},
                                     {"cost_usd", r.cost_usd}});
        std::cout << json::serialize(a) << "\n";
        return 0;
    }
    std::printf("usage from %s to %s UTC\n", utc(q.start).c_str(), utc(q.end).c_str());
    std::printf("%-20s %-24s %-10s %9s %8s %7s %12s %12s %10s\n", "key", "model", "day", "requests",
                "refused", "errors", "in tokens", "out tokens", "USD");
    long long requests = 0, in = 0, out = 0;
    double usd = 0;
    for (const auto& r : *rows) {
        std::printf("%-20s %-24s %-10s %9lld %8lld %7lld %12lld %12lld %10.4f\n", r.key.c_str(),
                    r.model.c_str(), r.day.c_str(), r.requests, r.refused, r.errors,
                    r.input_tokens + r.cache_tokens, r.output_tokens, r.cost_usd);
        requests += r.requests;
        in += r.input_tokens + r.cache_tokens;
        out += r.output_tokens;
        usd += r.cost_usd;
    }
    std::printf("%-20s %-24s %-10s %9lld %8s %7s %12lld %12lld %10.4f\n", "total", "", "", requests, "", "",
                in, out, usd);
    return 0;
}

} // namespace

bool is_admin_command(const std::vector<std::string>& args) {
    return !args.empty() && (args[0] == "keys" || args[0] == "usage");
}

int run_admin_command(const std::vector<std::string>& args) {
    Parsed p;
    if (auto err = parse(args, 1, p)) return bad(*err);
    for (const auto& [name, value] : p.options)
        if (name == "help") return (std::cout << usage_text, 0);
    return args[0] == "keys" ? keys_command(p) : usage_command(p);
}

} // namespace ksid::app
