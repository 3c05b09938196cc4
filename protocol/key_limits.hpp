#pragma once
// A tenant's limits (an API key's, or the socket clients' "local" tenant), pure: what they are, how they
// are written as JSON (the keys table, the admin API, `ksid keys list`), and how a change is read from
// JSON (the admin API) or from `ksid keys` options, validated and bounded.
#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

struct KeyLimits {
    std::optional<std::int64_t> concurrent;       // runs at once
    std::optional<std::int64_t> rpm;              // requests per minute
    std::optional<std::int64_t> tpm;              // tokens per minute (admitted on an estimate)
    std::optional<std::int64_t> daily_requests;   // per UTC day
    std::optional<std::int64_t> daily_tokens;     //
    std::optional<double> daily_usd;              //
    std::optional<std::int64_t> monthly_requests; // per UTC calendar month
    std::optional<std::int64_t> monthly_tokens;   //
    std::optional<double> monthly_usd;            //
    std::vector<std::string> models;              // allowed models; empty: every model
    int priority = 5;                             // the job queue's priority, 0 (first) .. 9
    bool tools = true;                            // may enable tools (facade.enable_tools still applies)

    bool operator==(const KeyLimits&) const = default;
};

// The limits' JSON: every field, null where unset.
boost::json::object key_limits_json(const KeyLimits& limits);

// Applies the fields present in `change` to `limits` (null clears a limit); an unknown field, a wrong
// type or a value out of range is an error text and leaves `limits` as it was.
std::optional<std::string> apply_key_limits(const boost::json::object& change, KeyLimits& limits);

// The same from `ksid keys` options: name is the field with '-' for '_' ("daily-usd"), value its text
// ("none" clears; models: a comma-separated list; tools: yes/no).
std::optional<std::string> apply_key_limit_option(std::string_view name, std::string_view value,
                                                  KeyLimits& limits);

// "concurrent=2 rpm=30 models=sonnet,haiku": options separated by spaces (usage.local_limits).
std::optional<std::string> apply_key_limit_options(std::string_view text, KeyLimits& limits);

// The field names, in the order key_limits_json writes them.
const std::vector<std::string_view>& key_limit_fields();

// A key's name: 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'.
bool is_valid_key_name(std::string_view name);

} // namespace ksid::protocol
