#include "protocol/python_condition.hpp"

#include "protocol/prompt_template.hpp"
#include "protocol/python_condition_tokenizer.hpp"
#include "protocol/python_format.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <vector>

namespace ksid::protocol {
namespace json = boost::json;

std::string substitute_condition(std::string_view condition, const json::object& context) {
    std::string text(condition);
    for (const auto& kv : context) {
        const std::string placeholder = "{{" + std::string(kv.key()) + "}}";
        if (text.find(placeholder) == std::string::npos) continue;
        const std::string replacement = kv.value().is_string()
                                            ? "'" + std::string(kv.value().get_string()) + "'"
                                            : python_str(kv.value());
        text = replace_all(text, placeholder, replacement);
        if (text.size() > (1u << 20)) return "("; // far past any real condition: a syntax error, i.e. true
    }
    return text;
}

namespace {

using detail::PythonError;
using detail::Tok;
using detail::Token;
using detail::tokenize;

bool is_number(const json::value& v) {
    return v.is_bool() || v.is_int64() || v.is_uint64() || v.is_double();
}

double as_double(const json::value& v) {
    if (v.is_bool()) return v.get_bool() ? 1 : 0;
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    return v.get_double();
}

} // namespace

bool python_equal(const json::value& a, const json::value& b) {
    if (is_number(a) && is_number(b)) return as_double(a) == as_double(b);
    if (a.kind() != b.kind()) return a.is_null() && b.is_null();
    switch (a.kind()) {
    case json::kind::null:
        return true;
    case json::kind::string:
        return a.get_string() == b.get_string();
    case json::kind::array: {
        const auto &x = a.get_array(), &y = b.get_array();
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i)
            if (!python_equal(x[i], y[i])) return false;
        return true;
    }
    case json::kind::object: {
        const auto &x = a.get_object(), &y = b.get_object();
        if (x.size() != y.size()) return false;
        for (const auto& kv : x) {
            const auto* other = y.if_contains(kv.key());
            if (!other || !python_equal(kv.value(), *other)) return false;
        }
        return true;
    }
    default:
        return false;
    }
}

namespace {

bool python_eq(const json::value& a, const json::value& b) {
    return python_equal(a, b);
}

// a < b, or a TypeError for types Python does not order.
bool python_lt(const json::value& a, const json::value& b) {
    if (is_number(a) && is_number(b)) return as_double(a) < as_double(b);
    if (a.is_string() && b.is_string()) return a.get_string() < b.get_string();
    if (a.is_array() && b.is_array()) {
        const auto &x = a.get_array(), &y = b.get_array();
        for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
            if (!python_eq(x[i], y[i])) return python_lt(x[i], y[i]);
        return x.size() < y.size();
    }
    throw PythonError("'<' not supported between these types");
}

bool python_in(const json::value& item, const json::value& container) {
    if (container.is_array()) {
        for (const auto& e : container.get_array())
            if (python_eq(item, e)) return true;
        return false;
    }
    if (container.is_string()) {
        if (!item.is_string()) throw PythonError("'in <string>' requires string as left operand");
        return std::string_view(container.get_string()).find(item.get_string()) != std::string_view::npos;
    }
    if (container.is_object()) {
        if (item.is_array() || item.is_object()) throw PythonError("unhashable type");
        return item.is_string() && container.get_object().contains(item.get_string());
    }
    throw PythonError("argument of this type is not iterable");
}

class Parser {
public:
    explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

    json::value parse() {
        json::value v = or_test();
        if (peek().kind != Tok::end) throw PythonError("invalid syntax");
        return v;
    }

private:
    const Token& peek(std::size_t ahead = 0) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
    bool is_op(const char* op, std::size_t ahead = 0) const {
        return peek(ahead).kind == Tok::op && peek(ahead).text == op;
    }
    bool is_name(const char* name, std::size_t ahead = 0) const {
        return peek(ahead).kind == Tok::name && peek(ahead).text == name;
    }
    void expect_op(const char* op) {
        if (!is_op(op)) throw PythonError("invalid syntax");
        ++pos_;
    }

    json::value or_test() {
        json::value v = and_test();
        while (is_name("or")) {
            ++pos_;
            json::value rhs = and_test();
            if (!python_truthy(v)) v = std::move(rhs);
        }
        return v;
    }
    json::value and_test() {
        json::value v = not_test();
        while (is_name("and")) {
            ++pos_;
            json::value rhs = not_test();
            if (python_truthy(v)) v = std::move(rhs);
        }
        return v;
    }
    json::value not_test() {
        if (is_name("not")) {
            ++pos_;
            return json::value(!python_truthy(not_test()));
        }
        return comparison();
    }
    json::value comparison() {
        json::value left = unary();
        bool result = true, any = false;
        for (;;) {
            std::string op;
            if (peek().kind == Tok::op &&
                (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == ">" ||
                 peek().text == "<=" || peek().text == ">=")) {
                op = peek().text;
                ++pos_;
            } else if (is_name("in")) {
                op = "in";
                ++pos_;
            } else if (is_name("not") && is_name("in", 1)) {
                op = "not in";
                pos_ += 2;
            } else if (is_name("is") && is_name("not", 1)) {
                op = "is not";
                pos_ += 2;
            } else if (is_name("is")) {
                op = "is";
                ++pos_;
            } else {
                break;
            }
            json::value right = unary();
            bool r = false;
            if (op == "==")
                r = python_eq(left, right);
            else if (op == "!=")
                r = !python_eq(left, right);
            else if (op == "<")
                r = python_lt(left, right);
            else if (op == ">")
                r = python_lt(right, left);
            else if (op == "<=")
                r = python_lt(left, right) || python_eq(left, right);
            else if (op == ">=")
                r = python_lt(right, left) || python_eq(left, right);
            else if (op == "in")
                r = python_in(left, right);
            else if (op == "not in")
                r = !python_in(left, right);
            else { // identity: only the singletons have a predictable answer
                const bool same = (left.is_null() && right.is_null()) ||
                                  (left.is_bool() && right.is_bool() && left.get_bool() == right.get_bool());
                r = op == "is" ? same : !same;
            }
            result = result && r;
            any = true;
            left = std::move(right);
        }
        return any ? json::value(result) : left;
    }
    json::value unary() {
        if (is_op("-") || is_op("+")) {
            const bool neg = is_op("-");
            ++pos_;
            json::value v = unary();
            if (!is_number(v)) throw PythonError("bad operand type for unary -");
            if (!neg) return v.is_bool() ? json::value(v.get_bool() ? 1 : 0) : v;
            if (v.is_double()) return json::value(-v.get_double());
            if (v.is_bool()) return json::value(v.get_bool() ? -1 : 0);
            if (v.is_int64()) return json::value(-v.get_int64());
            return json::value(-static_cast<double>(v.get_uint64()));
        }
        return atom();
    }
    json::value atom() {
        const Token& tok = peek();
        if (tok.kind == Tok::number || tok.kind == Tok::string) {
            ++pos_;
            return tok.value;
        }
        if (tok.kind == Tok::name) {
            ++pos_;
            if (tok.text == "True") return json::value(true);
            if (tok.text == "False") return json::value(false);
            if (tok.text == "None") return json::value(nullptr);
            throw PythonError("name '" + tok.text + "' is not defined");
        }
        if (is_op("(")) {
            ++pos_;
            if (is_op(")")) throw PythonError("tuples are not supported");
            json::value v = or_test();
            expect_op(")");
            return v;
        }
        if (is_op("[")) {
            ++pos_;
            json::array items;
            while (!is_op("]")) {
                items.push_back(or_test());
                if (!is_op(",")) break;
                ++pos_;
            }
            expect_op("]");
            return items;
        }
        if (is_op("{")) {
            ++pos_;
            json::object items;
            while (!is_op("}")) {
                json::value key = or_test();
                expect_op(":");
                json::value value = or_test();
                if (!key.is_string()) throw PythonError("only string keys are supported");
                items[key.get_string()] = std::move(value);
                if (!is_op(",")) break;
                ++pos_;
            }
            expect_op("}");
            return items;
        }
        throw PythonError("invalid syntax");
    }

    std::vector<Token> t_;
    std::size_t pos_ = 0;
};

} // namespace

std::optional<json::value> evaluate_python_expression(std::string_view expression) {
    // eval() ignores surrounding spaces and tabs; anything spanning lines is a syntax error here.
    try {
        return Parser(tokenize(expression)).parse();
    } catch (const PythonError&) {
        return std::nullopt;
    }
}

bool condition_holds(std::string_view condition, const json::object& context) {
    if (condition.empty()) return true;
    auto value = evaluate_python_expression(substitute_condition(condition, context));
    return !value || python_truthy(*value);
}

} // namespace ksid::protocol
