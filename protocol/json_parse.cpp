#include "protocol/json_parse.hpp"

#include "protocol/utf8.hpp"

#include <boost/json/error.hpp>
#include <boost/json/parser.hpp>

namespace ksid::protocol {
namespace json = boost::json;

namespace {

// Python's json error texts end in a position: line, column and character (code point) offset.
std::string python_position(std::string_view text, std::size_t byte_offset) {
    if (byte_offset > text.size()) byte_offset = text.size();
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < byte_offset; ++i)
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    const std::size_t chr = count_code_points(text.substr(0, byte_offset));
    const std::size_t col = count_code_points(text.substr(line_start, byte_offset - line_start)) + 1;
    return "line " + std::to_string(line) + " column " + std::to_string(col) + " (char " +
           std::to_string(chr) + ")";
}

std::string_view python_phrase(const boost::system::error_code& ec, std::string_view text, std::size_t at) {
    if (ec == json::error::too_deep) return "Maximum nesting depth exceeded";
    if (ec == json::error::expected_hex_digit || ec == json::error::illegal_leading_surrogate ||
        ec == json::error::illegal_trailing_surrogate)
        return "Invalid \\uXXXX escape";
    if (ec == json::error::incomplete && at < text.size() && text[at] == '"')
        return "Unterminated string starting at";
    if (ec == json::error::syntax && at < text.size()) {
        const char c = text[at];
        if (c == ':' || c == ',' || c == '}' || c == ']') return "Expecting value";
        // After a key inside an object Python asks for the ':' delimiter; after a value for ','.
        const auto prev = text.find_last_not_of(" \t\r\n", at == 0 ? 0 : at - 1);
        if (prev != std::string_view::npos && at > 0) {
            if (text[prev] == '"') return "Expecting ',' delimiter";
            if (text[prev] == '{' || text[prev] == ',')
                return "Expecting property name enclosed in double quotes";
        }
    }
    return "Expecting value";
}

} // namespace

boost::system::result<json::value, JsonParseError> parse_json_text(std::string_view text,
                                                                   std::size_t max_depth) {
    json::parse_options opts;
    opts.max_depth = max_depth;
    json::parser parser(json::storage_ptr(), opts);
    boost::system::error_code ec;
    const std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
    if (ec) {
        std::size_t at = consumed;
        if (ec == json::error::incomplete) { // Python points at where a value was expected...
            at = text.size();
            std::size_t quotes = 0, last_open = 0;
            for (std::size_t i = 0; i < text.size(); ++i)
                if (text[i] == '"' && (i == 0 || text[i - 1] != '\\')) {
                    if (quotes % 2 == 0) last_open = i;
                    ++quotes;
                }
            if (quotes % 2 == 1) at = last_open; // ...or where an unterminated string started
        }
        return JsonParseError{std::string(python_phrase(ec, text, at)) + ": " + python_position(text, at)};
    }
    if (consumed < text.size()) return JsonParseError{"Extra data: " + python_position(text, consumed)};
    return parser.release();
}

} // namespace ksid::protocol
