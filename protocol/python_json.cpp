#include "protocol/python_json.hpp"

#include "protocol/python_format.hpp"
#include "protocol/utf8.hpp"

#include <cmath>

namespace ksid::protocol {
namespace json = boost::json;

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_u_escape(std::string& out, unsigned unit) {
    out += "\\u";
    out += hex_digits[(unit >> 12) & 0xF];
    out += hex_digits[(unit >> 8) & 0xF];
    out += hex_digits[(unit >> 4) & 0xF];
    out += hex_digits[unit & 0xF];
}

void newline_indent(std::string& out, int indent, int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
}

void append_value(std::string& out, const json::value& v, int indent, int level);

void append_object(std::string& out, const json::object& obj, int indent, int level) {
    if (obj.empty()) {
        out += "{}";
        return;
    }
    out += '{';
    bool first = true;
    for (const auto& kv : obj) {
        if (!first) out += indent < 0 ? ", " : ",";
        first = false;
        if (indent >= 0) newline_indent(out, indent, level + 1);
        append_python_json_string(out, kv.key());
        out += ": ";
        append_value(out, kv.value(), indent, level + 1);
    }
    if (indent >= 0) newline_indent(out, indent, level);
    out += '}';
}

void append_value(std::string& out, const json::value& v, int indent, int level) {
    switch (v.kind()) {
    case json::kind::null:
        out += "null";
        return;
    case json::kind::bool_:
        out += v.get_bool() ? "true" : "false";
        return;
    case json::kind::int64:
        out += std::to_string(v.get_int64());
        return;
    case json::kind::uint64:
        out += std::to_string(v.get_uint64());
        return;
    case json::kind::double_: {
        const double d = v.get_double();
        if (std::isnan(d))
            out += "NaN";
        else if (std::isinf(d))
            out += d < 0 ? "-Infinity" : "Infinity";
        else
            append_python_float(out, d);
        return;
    }
    case json::kind::string:
        append_python_json_string(out, v.get_string());
        return;
    case json::kind::array: {
        const auto& arr = v.get_array();
        if (arr.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        bool first = true;
        for (const auto& e : arr) {
            if (!first) out += indent < 0 ? ", " : ",";
            first = false;
            if (indent >= 0) newline_indent(out, indent, level + 1);
            append_value(out, e, indent, level + 1);
        }
        if (indent >= 0) newline_indent(out, indent, level);
        out += ']';
        return;
    }
    case json::kind::object:
        append_object(out, v.get_object(), indent, level);
        return;
    }
}

} // namespace

void append_python_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7F) {
            if (c == '"')
                out += "\\\"";
            else if (c == '\\')
                out += "\\\\";
            else
                out += static_cast<char>(c);
            ++i;
            continue;
        }
        if (c < 0x80) {
            switch (c) {
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                append_u_escape(out, c);
            }
            ++i;
            continue;
        }
        // Multi-byte UTF-8 (input is validated upstream): decode, then escape as UTF-16 units.
        char32_t cp;
        const std::size_t len = decode_utf8_at(s, i, cp);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            append_u_escape(out, 0xD800 + (cp >> 10));
            append_u_escape(out, 0xDC00 + (cp & 0x3FF));
        } else {
            append_u_escape(out, cp);
        }
        i += len;
    }
    out += '"';
}

void append_python_json(std::string& out, const json::value& value, int indent) {
    append_value(out, value, indent, 0);
}

void append_python_json(std::string& out, const json::object& value, int indent) {
    append_object(out, value, indent, 0);
}

std::string python_json_member(std::string_view key, const json::value& value, int indent) {
    std::string out;
    newline_indent(out, indent, 1);
    append_python_json_string(out, key);
    out += ": ";
    append_value(out, value, indent, 1);
    return out;
}

std::string to_python_json(const json::value& value, int indent) {
    std::string s;
    append_python_json(s, value, indent);
    return s;
}

std::string to_python_json(const json::object& value, int indent) {
    std::string s;
    append_object(s, value, indent, 0);
    return s;
}

} // namespace ksid::protocol
