#pragma once
// Composition conditions (spec §8.4). The legacy daemon substituted context values into the condition text
// and ran Python's eval() on it, treating any error as true. ksid evaluates the same text with a small
// evaluator for Python literals and operators (no names, calls or attribute access, so nothing can be
// executed), and keeps the rule that anything it cannot evaluate counts as true.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ksid::protocol {

// Replaces, for each context key in order, every "{{key}}" with 'value' for strings (quotes added, no
// escaping) or str(value) for anything else.
std::string substitute_condition(std::string_view condition, const boost::json::object& context);

// eval() of a Python expression made of literals (str, int, float, True/False/None, lists, dicts),
// comparisons (== != < > <= >= in, not in, is, is not), not/and/or, unary minus and parentheses.
// nullopt when Python would raise (syntax, name or type errors).
std::optional<boost::json::value> evaluate_python_expression(std::string_view expression);

// Python's == on decoded JSON (1 == 1.0 == True; "1" != 1; dicts compare without order).
bool python_equal(const boost::json::value& a, const boost::json::value& b);

// The legacy rule: empty condition → true; otherwise substitute, evaluate, take the truthiness; any
// error → true.
bool condition_holds(std::string_view condition, const boost::json::object& context);

} // namespace ksid::protocol
