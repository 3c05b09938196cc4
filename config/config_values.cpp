#include "config/config_values.hpp"

#include "protocol/claude_cli.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <utility>

namespace ksid::config::detail {

namespace {

std::string lower(std::string_view s) {
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
    return r;
}

std::optional<std::string> scalar_only(const RawValue& raw) {
    if (raw.is_list) return "expected a single value, not a list";
    return std::nullopt;
}

} // namespace

std::string yaml_quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

std::optional<std::string> parse_bool(const RawValue& raw, bool& out) {
    if (auto e = scalar_only(raw)) return e;
    const auto t = lower(raw.text);
    if (t == "true" || t == "yes" || t == "on" || t == "1")
        out = true;
    else if (t == "false" || t == "no" || t == "off" || t == "0")
        out = false;
    else
        return "expected true or false, got '" + raw.text + "'";
    return std::nullopt;
}

std::optional<std::string> parse_whole_number(const RawValue& raw, long long& out, long long min,
                                              long long max) {
    if (auto e = scalar_only(raw)) return e;
    long long v = 0;
    const auto* b = raw.text.data();
    const auto* e = b + raw.text.size();
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc{} || p != e || raw.text.empty())
        return "expected a whole number, got '" + raw.text + "'";
    if (v < min || v > max)
        return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + raw.text;
    out = v;
    return std::nullopt;
}

std::optional<std::string> parse_seconds(const RawValue& raw, Seconds& out, double min, double max) {
    if (auto e = scalar_only(raw)) return e;
    std::string t = raw.text;
    if (t.size() > 1 && t.back() == 's') t.pop_back();
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v))
        return "expected a number of seconds, got '" + raw.text + "'";
    if (v < min || v > max) {
        std::ostringstream m;
        m << "must be between " << min << " and " << max << " seconds, got " << raw.text;
        return m.str();
    }
    out = Seconds(v);
    return std::nullopt;
}

std::optional<std::string> parse_bytes(const RawValue& raw, std::size_t& out, std::size_t min,
                                       std::size_t max) {
    if (auto e = scalar_only(raw)) return e;
    std::string t = lower(raw.text);
    std::size_t mult = 1;
    for (auto [suffix, m] : {std::pair{"kib", 1024ull},
                             {"mib", 1024ull * 1024},
                             {"gib", 1024ull * 1024 * 1024},
                             {"k", 1024ull},
                             {"m", 1024ull * 1024},
                             {"g", 1024ull * 1024 * 1024}}) {
        const std::string_view s(suffix);
        if (t.size() > s.size() && t.ends_with(s)) {
            t.resize(t.size() - s.size());
            mult = m;
            break;
        }
    }
    unsigned long long v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || p != t.data() + t.size() || t.empty())
        return "expected a size in bytes (e.g. 65536 or 64KiB), got '" + raw.text + "'";
    v *= mult;
    if (v < min || v > max)
        return "must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes, got " +
               raw.text;
    out = v;
    return std::nullopt;
}

std::optional<std::string> parse_string(const RawValue& raw, std::string& out, bool allow_empty) {
    if (auto e = scalar_only(raw)) return e;
    if (!allow_empty && raw.text.empty()) return "must not be empty";
    if (raw.text.find('\0') != std::string::npos) return "must not contain NUL";
    out = raw.text;
    return std::nullopt;
}

std::optional<std::string> parse_list(const RawValue& raw, std::vector<std::string>& out) {
    std::vector<std::string> items;
    if (raw.is_list) {
        items = raw.items;
    } else { // comma-separated text
        std::string cur;
        std::istringstream in(raw.text);
        while (std::getline(in, cur, ',')) {
            auto b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
            if (b != std::string::npos) items.push_back(cur.substr(b, e - b + 1));
        }
    }
    for (const auto& i : items)
        if (i.empty()) return "list items must not be empty";
    out = std::move(items);
    return std::nullopt;
}

// A mapping of model names: a YAML mapping, or "a=b,c=d" in the environment.
std::optional<std::string> parse_model_map(const RawValue& raw, std::map<std::string, std::string>& out) {
    std::vector<std::string> items;
    if (raw.is_list && !raw.is_map) return "expected a mapping (name: upstream-name)";
    if (auto e = parse_list(raw, items)) return e;
    std::map<std::string, std::string> map;
    for (const auto& item : items) {
        const auto eq = item.find('=');
        if (eq == std::string::npos) return "expected name=upstream-name, got '" + item + "'";
        auto key = item.substr(0, eq), value = item.substr(eq + 1);
        auto trim = [](std::string& t) {
            auto b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t");
            t = b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
        };
        trim(key);
        trim(value);
        if (!protocol::is_valid_model_name(key)) return "'" + key + "' is not a valid model name";
        if (value.empty() || value.size() > 256 || value.find_first_of("\r\n\"") != std::string::npos)
            return "'" + value + "' is not a usable upstream model name";
        map[key] = value;
    }
    out = std::move(map);
    return std::nullopt;
}

std::string render_model_map(const std::map<std::string, std::string>& m) {
    std::string out = "{";
    for (const auto& [k, v] : m)
        out += (out.size() > 1 ? ", " : "") + yaml_quoted(k) + ": " + yaml_quoted(v);
    return out + "}";
}

std::optional<std::string> parse_mode(const RawValue& raw, unsigned& out) {
    if (auto e = scalar_only(raw)) return e;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(raw.text.data(), raw.text.data() + raw.text.size(), v, 8);
    if (ec != std::errc{} || p != raw.text.data() + raw.text.size() || raw.text.empty() || v > 0777)
        return "expected an octal file mode such as 0600, got '" + raw.text + "'";
    if ((v & 0600) != 0600) return "must let the owner read and write (0600 at least), got " + raw.text;
    out = v;
    return std::nullopt;
}

std::optional<std::string> parse_log_level(const RawValue& raw, std::string& out) {
    if (auto e = scalar_only(raw)) return e;
    auto t = lower(raw.text);
    if (t == "warn") t = "warning";
    static const char* levels[] = {"trace", "debug", "info", "warning", "error", "critical", "off"};
    for (const char* l : levels)
        if (t == l) {
            out = t;
            return std::nullopt;
        }
    return "expected one of trace, debug, info, warning, error, critical, off; got '" + raw.text + "'";
}

std::string render_seconds(Seconds s) {
    std::ostringstream o;
    o << s.count();
    return o.str();
}

std::string render_list(const std::vector<std::string>& v, bool secret) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        out += secret ? "\"<redacted>\"" : yaml_quoted(v[i]);
    }
    return out + "]";
}

} // namespace ksid::config::detail
