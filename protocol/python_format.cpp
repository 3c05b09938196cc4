#include "protocol/python_format.hpp"

#include "protocol/utf8.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace ksid::protocol {
namespace json = boost::json;

void append_python_float(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "nan";
        return;
    }
    if (std::isinf(value)) {
        out += value < 0 ? "-inf" : "inf";
        return;
    }
    // Shortest round-trip digits in scientific form, e.g. "1.2345e+05", then laid out as Python does.
    char sci[64];
    auto [end, ec] = std::to_chars(sci, sci + sizeof sci, value, std::chars_format::scientific);
    std::string_view s(sci, static_cast<std::size_t>(end - sci));
    if (ec != std::errc{}) {
        out += "nan";
        return;
    }
    if (!s.empty() && s.front() == '-') {
        out += '-';
        s.remove_prefix(1);
    }
    const auto e_pos = s.find('e');
    std::string digits;
    for (char c : s.substr(0, e_pos))
        if (c != '.') digits += c;
    const int exponent = std::atoi(std::string(s.substr(e_pos + 1)).c_str());
    while (digits.size() > 1 && digits.back() == '0')
        digits.pop_back();
    const int decpt = exponent + 1; // digits[0:decpt] is the integral part
    const int ndigits = static_cast<int>(digits.size());
    if (decpt <= -4 || decpt > 16) {
        out += digits[0];
        if (ndigits > 1) {
            out += '.';
            out.append(digits, 1);
        }
        char exp[16];
        std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
        out += exp;
    } else if (decpt <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-decpt), '0');
        out += digits;
    } else if (decpt >= ndigits) {
        out += digits;
        out.append(static_cast<std::size_t>(decpt - ndigits), '0');
        out += ".0";
    } else {
        out.append(digits, 0, static_cast<std::size_t>(decpt));
        out += '.';
        out.append(digits, static_cast<std::size_t>(decpt));
    }
}

std::string python_float(double value) {
    std::string s;
    append_python_float(s, value);
    return s;
}

namespace {

// str.isprintable() for the code points that matter in practice: controls, separators and format marks.
bool python_printable(char32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return false;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F)) return false;
    if ((cp >= 0x205F && cp <= 0x2064) || cp == 0x3000 || cp == 0xFEFF) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0xE000 && cp <= 0xF8FF)) return false;
    return true;
}

} // namespace

void append_python_string_repr(std::string& out, std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    out += quote;
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp;
        const std::size_t len = decode_utf8_at(s, i, cp);
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out += '\\';
            out += static_cast<char>(cp);
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (!python_printable(cp)) {
            char buf[16];
            if (cp < 0x100)
                std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
            else if (cp < 0x10000)
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            else
                std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    out += quote;
}

void append_python_repr(std::string& out, const json::value& v) {
    switch (v.kind()) {
    case json::kind::null:
        out += "None";
        break;
    case json::kind::bool_:
        out += v.get_bool() ? "True" : "False";
        break;
    case json::kind::int64:
        out += std::to_string(v.get_int64());
        break;
    case json::kind::uint64:
        out += std::to_string(v.get_uint64());
        break;
    case json::kind::double_:
        append_python_float(out, v.get_double());
        break;
    case json::kind::string:
        append_python_string_repr(out, v.get_string());
        break;
    case json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& e : v.get_array()) {
            if (!first) out += ", ";
            first = false;
            append_python_repr(out, e);
        }
        out += ']';
        break;
    }
    case json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& kv : v.get_object()) {
            if (!first) out += ", ";
            first = false;
            append_python_string_repr(out, kv.key());
            out += ": ";
            append_python_repr(out, kv.value());
        }
        out += '}';
        break;
    }
    }
}

void append_python_str(std::string& out, const json::value& v) {
    if (v.is_string())
        out.append(v.get_string());
    else
        append_python_repr(out, v);
}

std::string python_str(const json::value& v) {
    std::string s;
    append_python_str(s, v);
    return s;
}

std::string python_repr(const json::value& v) {
    std::string s;
    append_python_repr(s, v);
    return s;
}

bool python_truthy(const json::value& v) noexcept {
    switch (v.kind()) {
    case json::kind::null: return false;
    case json::kind::bool_: return v.get_bool();
    case json::kind::int64: return v.get_int64() != 0;
    case json::kind::uint64: return v.get_uint64() != 0;
    case json::kind::double_: return v.get_double() != 0.0;
    case json::kind::string: return !v.get_string().empty();
    case json::kind::array: return !v.get_array().empty();
    case json::kind::object: return !v.get_object().empty();
    }
    return false;
}

std::string python_title(std::string_view text) {
    std::string out(text);
    bool previous_cased = false;
    for (char& c : out) {
        const bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
        if (upper || lower) {
            if (previous_cased && upper) c = static_cast<char>(c - 'A' + 'a');
            if (!previous_cased && lower) c = static_cast<char>(c - 'a' + 'A');
            previous_cased = true;
        } else {
            previous_cased = false;
        }
    }
    return out;
}

std::string_view python_type_name(const json::value& v) {
    switch (v.kind()) {
    case json::kind::null:
        return "NoneType";
    case json::kind::bool_:
        return "bool";
    case json::kind::int64:
    case json::kind::uint64:
        return "int";
    case json::kind::double_:
        return "float";
    case json::kind::string:
        return "str";
    case json::kind::array:
        return "list";
    case json::kind::object:
        return "dict";
    }
    return "object";
}

} // namespace ksid::protocol
