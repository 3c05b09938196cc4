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

// The text one member has inside a top-level object written with indent >= 0: from the newline before it to
// the end of its value. An object's text is "{" + its members' texts joined by "," + "\n}" ("{}" when it has
// none), so a file can be assembled from members serialised one at a time.
std::string python_json_member(std::string_view key, const boost::json::value& value, int indent);

} // namespace ksid::protocol
