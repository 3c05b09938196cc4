#include "protocol/python_condition_tokenizer.hpp"

#include <cerrno>
#include <cstdlib>

namespace ksid::protocol::detail {
namespace json = boost::json;

namespace {

void append_utf8(std::string& out, unsigned long cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) throw PythonError("bad code point");
    if (cp < 0x80)
        out += static_cast<char>(cp);
    else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

} // namespace

std::vector<Token> tokenize(std::string_view s) {
    std::vector<Token> tokens;
    std::size_t i = 0;
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    auto is_name = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
    };
    while (i < s.size()) {
        const char c = s[i];
        if (c == ' ' || c == '\t') {
            ++i;
        } else if (c == '\'' || c == '"') {
            if (s.substr(i, 3) == std::string(3, c))
                throw PythonError("triple-quoted strings are not supported");
            std::string v;
            ++i;
            for (;;) {
                if (i >= s.size() || s[i] == '\n' || s[i] == '\r') throw PythonError("unterminated string");
                const char d = s[i];
                if (d == c) {
                    ++i;
                    break;
                }
                if (d != '\\') {
                    v += d;
                    ++i;
                    continue;
                }
                if (i + 1 >= s.size()) throw PythonError("unterminated string");
                const char e = s[i + 1];
                i += 2;
                switch (e) {
                case '\n':
                    break;
                case '\\':
                    v += '\\';
                    break;
                case '\'':
                    v += '\'';
                    break;
                case '"':
                    v += '"';
                    break;
                case 'a':
                    v += '\a';
                    break;
                case 'b':
                    v += '\b';
                    break;
                case 'f':
                    v += '\f';
                    break;
                case 'n':
                    v += '\n';
                    break;
                case 'r':
                    v += '\r';
                    break;
                case 't':
                    v += '\t';
                    break;
                case 'v':
                    v += '\v';
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    const std::size_t len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (i + len > s.size()) throw PythonError("truncated escape");
                    const std::string hex(s.substr(i, len));
                    if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
                        throw PythonError("truncated escape");
                    append_utf8(v, std::strtoul(hex.c_str(), nullptr, 16));
                    i += len;
                    break;
                }
                case 'N':
                    throw PythonError("named escapes are not supported");
                default:
                    if (e >= '0' && e <= '7') {
                        unsigned long cp = static_cast<unsigned long>(e - '0');
                        for (int k = 0; k < 2 && i < s.size() && s[i] >= '0' && s[i] <= '7'; ++k, ++i)
                            cp = cp * 8 + static_cast<unsigned long>(s[i] - '0');
                        append_utf8(v, cp);
                    } else {
                        v += '\\'; // unknown escapes keep the backslash
                        v += e;
                    }
                }
            }
            if (!tokens.empty() && tokens.back().kind == Tok::string) { // 'a' 'b' concatenates
                tokens.back().value = json::value(std::string(tokens.back().value.get_string()) + v);
            } else {
                tokens.push_back({Tok::string, {}, json::value(v)});
            }
        } else if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
            std::size_t j = i;
            bool is_float = false;
            while (j < s.size() && (is_digit(s[j]) || s[j] == '_'))
                ++j;
            if (j < s.size() && s[j] == '.') {
                is_float = true;
                ++j;
                while (j < s.size() && (is_digit(s[j]) || s[j] == '_'))
                    ++j;
            }
            if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
                std::size_t k = j + 1;
                if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
                if (k < s.size() && is_digit(s[k])) {
                    is_float = true;
                    j = k;
                    while (j < s.size() && is_digit(s[j]))
                        ++j;
                }
            }
            if (j < s.size() && is_name(s[j])) throw PythonError("invalid number");
            std::string digits;
            for (std::size_t k = i; k < j; ++k)
                if (s[k] != '_') digits += s[k];
            if (is_float) {
                tokens.push_back({Tok::number, {}, json::value(std::strtod(digits.c_str(), nullptr))});
            } else {
                if (digits.size() > 1 && digits[0] == '0' &&
                    digits.find_first_not_of('0') != std::string::npos)
                    throw PythonError("leading zeros");
                errno = 0;
                const long long v = std::strtoll(digits.c_str(), nullptr, 10);
                if (errno == ERANGE)
                    tokens.push_back({Tok::number, {}, json::value(std::strtod(digits.c_str(), nullptr))});
                else
                    tokens.push_back({Tok::number, {}, json::value(v)});
            }
            i = j;
        } else if (is_name(c)) {
            std::size_t j = i;
            while (j < s.size() && is_name(s[j]))
                ++j;
            tokens.push_back({Tok::name, std::string(s.substr(i, j - i)), {}});
            i = j;
        } else {
            static const char* ops[] = {"==", "!=", "<=", ">=", "<", ">", "(", ")",
                                        "[",  "]",  "{",  "}",  ",", ":", "-", "+"};
            bool matched = false;
            for (const char* op : ops) {
                const std::string_view o(op);
                if (s.substr(i, o.size()) == o) {
                    tokens.push_back({Tok::op, std::string(o), {}});
                    i += o.size();
                    matched = true;
                    break;
                }
            }
            if (!matched) throw PythonError("unexpected character");
        }
    }
    tokens.push_back({Tok::end, {}, {}});
    return tokens;
}

} // namespace ksid::protocol::detail
