#pragma once
// Decoding one request line of the legacy socket protocol (spec §3, §4): UTF-8 check, stripping, JSON,
// the envelope checks of lenient validation, the refusal of numbers ksid cannot hold as sent, and the
// persistence decision of a connection's first line.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace ksid::protocol {

// A decoded request. `parameters` is {} when the key was missing and kept as sent otherwise (an
// explicit null or a non-object reaches the handler, which fails the way the legacy one does).
struct LegacyRequest {
    std::string command; // one of the 29 names
    boost::json::value parameters;
    boost::json::object envelope; // the whole request object
};

enum class LinePosition {
    first,     // the first line of a connection
    follow_up, // a later line on a persistent connection
};

struct DecodedLine {
    enum class Kind {
        request,           // dispatch `request`
        error_reply,       // answer with `error_code`/`error_message`
        close,             // close without a reply (bad UTF-8, non-object first line)
        ignore,            // an empty line on a persistent connection
        text_health_probe, // ksid extension: a first line of exactly HEALTH_CHECK is answered "HEALTHY"
    };
    Kind kind = Kind::close;
    LegacyRequest request;
    std::string error_code;
    std::string error_message;
    bool error_has_timestamp = true; // INVALID_JSON on a first line has none
    // First line only: {"command":"AGENT_CONNECTION","parameters":{"action":"connect"}} keeps the
    // connection open, whatever becomes of the command itself.
    bool makes_persistent = false;
};

// Python's str.strip() for the whitespace clients send (ASCII whitespace and \x1c-\x1f).
std::string_view strip_python_whitespace(std::string_view s) noexcept;

DecodedLine decode_legacy_line(std::string_view raw_line, LinePosition position,
                               std::size_t max_json_depth = 1000);

} // namespace ksid::protocol
