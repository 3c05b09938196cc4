#include "protocol/json_parse.hpp"

#include "protocol/utf8.hpp"

#include <boost/json/error.hpp>
#include <boost/json/parser.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

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

bool is_number_char(char c) noexcept {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// Whether Boost.JSON keeps the literal as written: integers in int64/uint64 range exactly, other numbers as
// the nearest finite double (as Python's float() does).
bool number_fits(std::string_view literal) {
    const char* first = literal.data();
    const char* last = first + literal.size();
    if (literal.find_first_of(".eE") == std::string_view::npos) {
        if (literal.front() == '-') {
            std::int64_t v;
            return std::from_chars(first, last, v).ec == std::errc();
        }
        std::uint64_t v;
        return std::from_chars(first, last, v).ec == std::errc();
    }
    // strtod reads JSON's number syntax (the "C" locale: ksid never changes it); it returns ±HUGE_VAL on
    // overflow. Underflow rounds towards 0, as Python does, so it is not a loss.
    const std::string copy(literal);
    return !std::isinf(std::strtod(copy.c_str(), nullptr));
}

} // namespace

std::optional<std::string_view> find_unrepresentable_number(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '"') { // skip the string, escapes included
            for (++i; i < text.size() && text[i] != '"'; ++i)
                if (text[i] == '\\') ++i;
            ++i;
            continue;
        }
        // Outside strings, valid JSON has digits and '-' only in numbers.
        if (c != '-' && (c < '0' || c > '9')) {
            ++i;
            continue;
        }
        const std::size_t start = i;
        while (i < text.size() && is_number_char(text[i]))
            ++i;
        const auto literal = text.substr(start, i - start);
        if (!number_fits(literal)) return literal;
    }
    return std::nullopt;
}

boost::system::result<json::value, JsonParseError> parse_exact_json_text(std::string_view text,
                                                                         std::size_t max_depth) {
    auto parsed = parse_json_text(text, max_depth);
    if (!parsed) return parsed;
    if (auto number = find_unrepresentable_number(text)) {
        const auto at = static_cast<std::size_t>(number->data() - text.data());
        std::string shown(number->substr(0, 40));
        if (number->size() > 40) shown += "...";
        return JsonParseError{"Number out of range: " + shown + ": " + python_position(text, at)};
    }
    return parsed;
}

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

std::string_view string_at(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

const boost::json::object* object_at(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_object() ? &v->get_object() : nullptr;
}

} // namespace ksid::protocol
