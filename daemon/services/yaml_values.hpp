#pragma once
// YAML as PyYAML's safe_load reads it (YAML 1.1 scalar typing: unquoted 2 is an int, 1.0 a float, yes/no/
// on/off booleans, ~ and null are null; quoted scalars stay strings), converted to ordered JSON values.
#include <boost/json/value.hpp>

#include <string>

namespace YAML {
class Node;
}

namespace ksid::daemon {

// Throws std::runtime_error for nodes that have no JSON form (e.g. non-scalar mapping keys).
boost::json::value yaml_to_json(const YAML::Node& node);

// The value PyYAML gives a plain (unquoted) scalar.
boost::json::value yaml11_plain_scalar(const std::string& text);

} // namespace ksid::daemon
