#pragma once
// The tokenizer of the condition evaluator (internal to protocol/python_condition.cpp, not part of the
// protocol interface): numbers, string literals with Python's escapes, names and the operators the
// evaluator knows. PythonError, thrown by the tokenizer and the evaluator alike, stands for whatever
// Python would raise.
#include <boost/json/value.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol::detail {

// An error Python would raise (or a form this evaluator does not support); evaluation reports nullopt.
struct PythonError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class Tok { number, string, name, op, end };

struct Token {
    Tok kind;
    std::string text;         // operator or name
    boost::json::value value; // number or string
};

// The tokens of one expression, ending with Tok::end; adjacent string literals are joined into one.
// Throws PythonError on text it cannot tokenize.
std::vector<Token> tokenize(std::string_view s);

} // namespace ksid::protocol::detail
