#pragma once
// JSON text as Python's json.dumps writes it: ", " and ": " separators (or indent=N), keys in insertion
// order, everything outside printable ASCII escaped as \uXXXX (surrogate pairs above U+FFFF), floats in
// repr form. The legacy daemon writes its replies and files this way; keeping the bytes identical keeps
// diffs against legacy output empty.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>

namespace ksid::protocol {

// indent < 0: one line. indent >= 0: Python's indent=N layout.
void append_python_json(std::string& out, const boost::json::value& value, int indent = -1);
void append_python_json(std::string& out, const boost::json::object& value, int indent = -1);
std::string to_python_json(const boost::json::value& value, int indent = -1);
std::string to_python_json(const boost::json::object& value, int indent = -1);
void append_python_json_string(std::string& out, std::string_view utf8);

} // namespace ksid::protocol
