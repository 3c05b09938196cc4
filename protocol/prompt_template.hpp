#pragma once
// Component text substitution (spec §8.5): variables are the component's vars overlaid by the context
// (a context key already in vars replaces it in place, new keys are appended in request order), and each
// "{{name}}" is replaced by str(value) variable by variable, so a value inserted earlier may itself hold a
// later placeholder. Unknown placeholders stay as they are.
#include <boost/json/object.hpp>

#include <string>

namespace ksid::protocol {

boost::json::object merge_variables(const boost::json::object& vars, const boost::json::object& context);
// Returns false (text unchanged) when the result would exceed max_bytes: chained placeholders can double
// a prompt per variable, and the event loop must not spend minutes on one request.
bool substitute_variables(std::string& text, const boost::json::object& variables, std::size_t max_bytes = 64u << 20);

// str.replace(needle, value): one left-to-right pass, inserted text is not rescanned.
std::string replace_all(std::string_view text, std::string_view needle, std::string_view value);

} // namespace ksid::protocol
