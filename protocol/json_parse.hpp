#pragma once
// Parsing one JSON text the way the legacy daemon's json.loads is seen from outside: duplicate keys keep
// the last value, trailing data is an error, and failures carry a Python-style detail
// ("Expecting value: line 1 column 1 (char 0)"). Also the check for numbers a json::value cannot hold as
// written, which state files and legacy requests refuse rather than alter; and typed member access.
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ksid::protocol {

struct JsonParseError {
    std::string detail;
};

inline constexpr std::size_t default_max_json_depth = 1000;

boost::system::result<boost::json::value, JsonParseError>
parse_json_text(std::string_view text, std::size_t max_depth = default_max_json_depth);

// The first number literal in a valid JSON text that a json::value would not hold as written: one beyond
// a double's range (1e309 would become Infinity, which JSON cannot carry back) or an integer beyond 64
// bits (it would lose digits; Python kept such integers exactly). Number-like text inside strings is
// skipped. Undefined for invalid JSON: call it after parsing succeeded.
std::optional<std::string_view> find_unrepresentable_number(std::string_view valid_json_text);

// parse_json_text that also refuses an unrepresentable number ("Number out of range: 1e309"): for text
// that must read back exactly as it was written, such as ksid's state files.
boost::system::result<boost::json::value, JsonParseError>
parse_exact_json_text(std::string_view text, std::size_t max_depth = default_max_json_depth);

// A member of an object when it has the expected type: its text ("" when absent or not a string), or the
// object (nullptr when absent or not an object). For reading wire JSON whose fields may be anything.
std::string_view string_at(const boost::json::object& o, std::string_view key);
const boost::json::object* object_at(const boost::json::object& o, std::string_view key);

} // namespace ksid::protocol
