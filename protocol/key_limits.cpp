#include "protocol/key_limits.hpp"

#include <boost/json/value.hpp>

#include <cctype>
#include <charconv>
#include <cmath>

namespace ksid::protocol {
namespace json = boost::json;

namespace {

constexpr std::int64_t max_count = 1'000'000'000'000; // a bound that no real limit reaches
constexpr double max_usd = 1e9;

enum class Kind { count, usd, models, priority, tools };

struct Field {
    std::string_view name;
    Kind kind;
    std::optional<std::int64_t> KeyLimits::*count = nullptr;
    std::optional<double> KeyLimits::*usd = nullptr;
};

const std::vector<Field>& fields() {
    static const std::vector<Field> f{
        {"concurrent", Kind::count, &KeyLimits::concurrent},
        {"rpm", Kind::count, &KeyLimits::rpm},
        {"tpm", Kind::count, &KeyLimits::tpm},
        {"daily_requests", Kind::count, &KeyLimits::daily_requests},
        {"daily_tokens", Kind::count, &KeyLimits::daily_tokens},
        {"daily_usd", Kind::usd, nullptr, &KeyLimits::daily_usd},
        {"monthly_requests", Kind::count, &KeyLimits::monthly_requests},
        {"monthly_tokens", Kind::count, &KeyLimits::monthly_tokens},
        {"monthly_usd", Kind::usd, nullptr, &KeyLimits::monthly_usd},
        {"models", Kind::models},
        {"priority", Kind::priority},
        {"tools", Kind::tools},
    };
    return f;
}

const Field* field_named(std::string_view name) {
    for (const auto& f : fields())
        if (f.name == name) return &f;
    return nullptr;
}

std::string known_fields() {
    std::string s;
    for (const auto& f : fields())
        s += (s.empty() ? "" : ", ") + std::string(f.name);
    return s;
}

std::optional<std::int64_t> integer_of(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(max_count))
        return static_cast<std::int64_t>(v.get_uint64());
    if (v.is_double() && std::floor(v.get_double()) == v.get_double() && std::abs(v.get_double()) <= 1e15)
        return static_cast<std::int64_t>(v.get_double());
    return std::nullopt;
}

bool valid_model_name(std::string_view m) {
    if (m.empty() || m.size() > 128) return false;
    for (char c : m)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == ':' ||
              c == '[' || c == ']'))
            return false;
    return true;
}

// One field's new value, checked, into `out`.
std::optional<std::string> apply_field(const Field& f, const json::value& v, KeyLimits& out) {
    const std::string name(f.name);
    switch (f.kind) {
    case Kind::count: {
        if (v.is_null()) {
            out.*f.count = std::nullopt;
            return std::nullopt;
        }
        auto n = integer_of(v);
        if (!n || *n < 0 || *n > max_count)
            return name + ": expected a whole number from 0 to " + std::to_string(max_count) + " or null";
        out.*f.count = *n;
        return std::nullopt;
    }
    case Kind::usd: {
        if (v.is_null()) {
            out.*f.usd = std::nullopt;
            return std::nullopt;
        }
        if (!v.is_number()) return name + ": expected an amount in USD or null";
        const double d = v.to_number<double>();
        if (!std::isfinite(d) || d < 0 || d > max_usd) return name + ": expected an amount from 0 to 1e9 USD";
        out.*f.usd = d;
        return std::nullopt;
    }
    case Kind::models: {
        if (v.is_null()) {
            out.models.clear();
            return std::nullopt;
        }
        if (!v.is_array() || v.get_array().size() > 64)
            return name + ": expected a list of at most 64 model names, or null for every model";
        std::vector<std::string> models;
        for (const auto& m : v.get_array()) {
            if (!m.is_string() || !valid_model_name(m.get_string()))
                return name + ": each entry must be a model name";
            models.emplace_back(m.get_string());
        }
        out.models = std::move(models);
        return std::nullopt;
    }
    case Kind::priority: {
        auto n = v.is_null() ? std::optional<std::int64_t>(5) : integer_of(v);
        if (!n || *n < 0 || *n > 9) return name + ": expected 0 (first) to 9";
        out.priority = static_cast<int>(*n);
        return std::nullopt;
    }
    case Kind::tools:
        if (v.is_null()) {
            out.tools = true;
            return std::nullopt;
        }
        if (!v.is_bool()) return name + ": expected true or false";
        out.tools = v.get_bool();
        return std::nullopt;
    }
    return name + ": unknown";
}

} // namespace

const std::vector<std::string_view>& key_limit_fields() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> n;
        for (const auto& f : fields())
            n.push_back(f.name);
        return n;
    }();
    return names;
}

json::object key_limits_json(const KeyLimits& l) {
    json::object o;
    for (const auto& f : fields()) {
        const std::string name(f.name);
        switch (f.kind) {
        case Kind::count:
            o[name] = (l.*f.count) ? json::value(*(l.*f.count)) : json::value(nullptr);
            break;
        case Kind::usd:
            o[name] = (l.*f.usd) ? json::value(*(l.*f.usd)) : json::value(nullptr);
            break;
        case Kind::models: {
            if (l.models.empty()) {
                o[name] = nullptr;
                break;
            }
            json::array a;
            for (const auto& m : l.models)
                a.emplace_back(m);
            o[name] = std::move(a);
            break;
        }
        case Kind::priority:
            o[name] = l.priority;
            break;
        case Kind::tools:
            o[name] = l.tools;
            break;
        }
    }
    return o;
}

std::optional<std::string> apply_key_limits(const json::object& change, KeyLimits& limits) {
    KeyLimits next = limits;
    for (const auto& [name, value] : change) {
        const Field* f = field_named(name);
        if (!f) return "unknown limit '" + std::string(name) + "' (known: " + known_fields() + ")";
        if (auto err = apply_field(*f, value, next)) return err;
    }
    limits = std::move(next);
    return std::nullopt;
}

std::optional<std::string> apply_key_limit_option(std::string_view option, std::string_view text,
                                                  KeyLimits& limits) {
    std::string name(option);
    for (auto& c : name)
        if (c == '-') c = '_';
    const Field* f = field_named(name);
    if (!f) return "unknown limit --" + std::string(option) + " (known: " + known_fields() + ")";
    json::value v;
    if (text == "none" || text == "null") {
        v = nullptr;
    } else if (f->kind == Kind::models) {
        json::array a;
        std::size_t start = 0;
        while (start <= text.size()) {
            const auto comma = text.find(',', start);
            const auto part = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
            if (!part.empty()) a.emplace_back(part);
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        v = std::move(a);
    } else if (f->kind == Kind::tools) {
        if (text == "yes" || text == "true")
            v = true;
        else if (text == "no" || text == "false")
            v = false;
        else
            return "--" + std::string(option) + ": expected yes or no";
    } else if (f->kind == Kind::usd) {
        double d = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
        if (ec != std::errc() || p != text.data() + text.size())
            return "--" + std::string(option) + ": expected an amount in USD or none";
        v = d;
    } else {
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || p != text.data() + text.size())
            return "--" + std::string(option) + ": expected a whole number or none";
        v = n;
    }
    KeyLimits next = limits;
    if (auto err = apply_field(*f, v, next)) return "--" + std::string(option) + ": " + *err;
    limits = std::move(next);
    return std::nullopt;
}

std::optional<std::string> apply_key_limit_options(std::string_view text, KeyLimits& limits) {
    KeyLimits next = limits;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ' || text[i] == '\t') {
            ++i;
            continue;
        }
        const auto end = text.find_first_of(" \t", i);
        const auto item = text.substr(i, end == std::string_view::npos ? text.npos : end - i);
        i = end == std::string_view::npos ? text.size() : end;
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0)
            return "'" + std::string(item) + "': expected name=value (e.g. concurrent=2 rpm=30)";
        if (auto err = apply_key_limit_option(item.substr(0, eq), item.substr(eq + 1), next)) return err;
    }
    limits = std::move(next);
    return std::nullopt;
}

bool is_valid_key_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
    return true;
}

} // namespace ksid::protocol
