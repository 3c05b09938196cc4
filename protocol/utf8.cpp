#include "protocol/utf8.hpp"

namespace ksid::protocol {

namespace {
// Length of the valid UTF-8 sequence starting at p (1 for ASCII), or 0 when the bytes there are not one.
std::size_t sequence_length(const unsigned char* p, const unsigned char* end) noexcept {
    const unsigned char c = *p;
    if (c < 0x80) return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; // no overlongs
        else if (c == 0xED)
            hi = 0x9F; // no UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; // max U+10FFFF
    } else {
        return 0;
    }
    if (static_cast<std::size_t>(end - p) < len) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (std::size_t i = 2; i < len; ++i)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return len;
}
} // namespace

bool is_valid_utf8(std::string_view bytes) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* end = p + bytes.size();
    while (p < end) {
        const std::size_t len = sequence_length(p, end);
        if (len == 0) return false;
        p += len;
    }
    return true;
}

void append_escaped_controls(std::string_view text, std::string& out) {
    static constexpr char hex[] = "0123456789abcdef";
    const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = begin + text.size();
    const auto* p = begin;
    const auto* plain = p; // start of the bytes not yet copied
    auto escape = [&](const char* code, std::size_t skip) {
        out.append(reinterpret_cast<const char*>(plain), static_cast<std::size_t>(p - plain));
        out += code;
        p += skip;
        plain = p;
    };
    while (p < end) {
        const unsigned char c = *p;
        const std::size_t len = sequence_length(p, end);
        if (c == '\n') {
            escape("\\n", 1);
        } else if (c == '\r') {
            escape("\\r", 1);
        } else if (c == '\t') {
            escape("\\t", 1);
        } else if (c < 0x20 || c == 0x7f || len == 0) {
            const char code[] = {'\\', 'x', hex[c >> 4], hex[c & 15], 0};
            escape(code, 1);
        } else if (len == 2 && c == 0xC2 && p[1] < 0xA0) { // C1 controls U+0080..U+009F (0x9b is CSI)
            const char code[] = {'\\', 'u', '0', '0', hex[p[1] >> 4], hex[p[1] & 15], 0};
            escape(code, 2);
        } else {
            p += len;
        }
    }
    out.append(reinterpret_cast<const char*>(plain), static_cast<std::size_t>(end - plain));
}

std::string escape_controls(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    append_escaped_controls(text, out);
    return out;
}

std::size_t decode_utf8_at(std::string_view s, std::size_t i, char32_t& cp) noexcept {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
        cp = c;
        return 1;
    }
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (i + len > s.size()) len = s.size() - i;
    cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    return len;
}

std::size_t count_code_points(std::string_view utf8) noexcept {
    std::size_t n = 0;
    for (unsigned char c : utf8)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

std::string_view utf8_prefix(std::string_view utf8, std::size_t code_points) noexcept {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < utf8.size(); ++i) {
        if ((static_cast<unsigned char>(utf8[i]) & 0xC0) == 0x80) continue;
        if (seen++ == code_points) return utf8.substr(0, i);
    }
    return utf8;
}

} // namespace ksid::protocol
