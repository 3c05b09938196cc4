#pragma once
// UTF-8 checks as Python's strict decoder applies them (no overlongs, no surrogates, max U+10FFFF).
#include <cstddef>
#include <string>
#include <string_view>

namespace ksid::protocol {

bool is_valid_utf8(std::string_view bytes) noexcept;

// Text from clients made safe for a log line or a terminal: control characters (C0, DEL, C1 such as
// U+009B CSI) and bytes that are not UTF-8 are written as escapes (\n, \r, \t, \x1b, \u009b), so a value
// can neither start a forged line nor send a terminal escape. Valid printable UTF-8 is copied unchanged.
void append_escaped_controls(std::string_view text, std::string& out);
std::string escape_controls(std::string_view text);

// Number of code points in valid UTF-8 (what Python's len() returns for the decoded str).
std::size_t count_code_points(std::string_view utf8) noexcept;

// The first `code_points` code points of valid UTF-8 (Python's text[:n]); at most the whole text.
std::string_view utf8_prefix(std::string_view utf8, std::size_t code_points) noexcept;

// Decodes the code point at byte offset i of valid UTF-8; returns its length in bytes (at least 1).
std::size_t decode_utf8_at(std::string_view utf8, std::size_t i, char32_t& code_point) noexcept;

} // namespace ksid::protocol
