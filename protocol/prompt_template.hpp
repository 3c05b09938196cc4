#pragma once
// Component text substitution (spec §8.5): variables are the component's vars overlaid by the context
// (a context key already in vars replaces it in place, new keys are appended in request order), and each
// "{{name}}" is replaced by str(value) variable by variable, so a value inserted earlier may itself hold a
// later placeholder. Unknown placeholders stay as they are.
#include <boost/json/object.hpp>

#include <string>

namespace ksid::protocol {

boost::json::object merge_variables(const boost::json::object& vars, const boost::json::object& context);
std::string substitute_variables(std::string text, const boost::json::object& variables);

} // namespace ksid::protocol
