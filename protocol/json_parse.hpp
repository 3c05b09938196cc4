#pragma once
// Parsing one JSON text the way the legacy daemon's json.loads is seen from outside: duplicate keys keep
// the last value, trailing data is an error, and failures carry a Python-style detail
// ("Expecting value: line 1 column 1 (char 0)").
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace ksid::protocol {

struct JsonParseError {
    std::string detail;
};

inline constexpr std::size_t default_max_json_depth = 1000;

boost::system::result<boost::json::value, JsonParseError>
parse_json_text(std::string_view text, std::size_t max_depth = default_max_json_depth);

} // namespace ksid::protocol
