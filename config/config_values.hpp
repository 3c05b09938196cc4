#pragma once
// Typed parsers and renderers for configuration values, internal to the configuration loader (not part
// of its interface, config/config_loader.hpp). A parser takes a value as it arrives from YAML or the
// environment and either returns an error text (naming what was expected) or stores the typed value;
// a renderer writes a value back as YAML for --print-config.
#include "config/config.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::config::detail {

// A value as it arrives from YAML or the environment, before it is typed.
struct RawValue {
    std::string text;               // scalar text
    std::vector<std::string> items; // sequence items (YAML list, or comma-separated in the environment)
    bool is_list = false;
    bool is_map = false; // items are "key=value" (a YAML mapping)
};

// ---- typed parsers: each returns an error text or stores the value ----

std::optional<std::string> parse_bool(const RawValue& raw, bool& out);

// A whole number in [min, max].
std::optional<std::string> parse_whole_number(const RawValue& raw, long long& out, long long min,
                                              long long max);

template <class Int>
std::optional<std::string> parse_int(const RawValue& raw, Int& out, long long min, long long max) {
    long long v = 0;
    if (auto e = parse_whole_number(raw, v, min, max)) return e;
    out = static_cast<Int>(v);
    return std::nullopt;
}

// Seconds in [min, max], with an optional "s" suffix.
std::optional<std::string> parse_seconds(const RawValue& raw, Seconds& out, double min, double max);

// Bytes in [min, max], with an optional k/m/g or KiB/MiB/GiB suffix.
std::optional<std::string> parse_bytes(const RawValue& raw, std::size_t& out, std::size_t min,
                                       std::size_t max);

std::optional<std::string> parse_string(const RawValue& raw, std::string& out, bool allow_empty);

// A YAML list, or comma-separated text; items must not be empty.
std::optional<std::string> parse_list(const RawValue& raw, std::vector<std::string>& out);

// A mapping of model names: a YAML mapping, or "a=b,c=d" in the environment.
std::optional<std::string> parse_model_map(const RawValue& raw, std::map<std::string, std::string>& out);

// An octal file mode that lets the owner read and write (0600 at least).
std::optional<std::string> parse_mode(const RawValue& raw, unsigned& out);

// One of trace, debug, info, warning (or warn), error, critical, off; stored lower-case.
std::optional<std::string> parse_log_level(const RawValue& raw, std::string& out);

// ---- renderers: a value as YAML ----

std::string yaml_quoted(std::string_view s);
std::string render_model_map(const std::map<std::string, std::string>& m);
std::string render_seconds(Seconds s);
std::string render_list(const std::vector<std::string>& v, bool secret = false); // secret: items redacted

} // namespace ksid::config::detail
