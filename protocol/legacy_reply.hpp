#pragma once
// Encoding legacy reply lines (spec §4.3, §4.4): one JSON object, Python's layout, '\n' terminated.
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ksid::protocol {

// {"status": "success", "command": NAME, "result": RESULT}\n
std::string encode_success_reply(std::string_view command, const boost::json::object& result);

// {"status": "error", "error": {"code": C, "message": M, "timestamp": T}}\n; no timestamp for INVALID_JSON.
std::string encode_error_reply(std::string_view code, std::string_view message,
                               std::optional<std::string_view> timestamp);

} // namespace ksid::protocol
