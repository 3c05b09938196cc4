#pragma once
// Python's text renderings of JSON values, for wire texts and prompts that must match the legacy daemon
// byte for byte: float repr, str() and repr() of decoded JSON, and type names in exception texts.
#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace ksid::protocol {

// repr(float): shortest round-trip digits, ".0" for integral values, exponent form below 1e-4 and from
// 1e16 up ("1e-05", "1e+16"), "inf"/"nan" for non-finite values.
void append_python_float(std::string& out, double value);
std::string python_float(double value);

// repr(str): single quotes unless the text holds ' and no ", backslash escapes for non-printables.
void append_python_string_repr(std::string& out, std::string_view utf8);

// str(value) and repr(value) of the Python object json.loads would produce.
void append_python_str(std::string& out, const boost::json::value& value);
void append_python_repr(std::string& out, const boost::json::value& value);
std::string python_str(const boost::json::value& value);
std::string python_repr(const boost::json::value& value);

// bool(value): null, false, 0, 0.0, "", [] and {} are false.
bool python_truthy(const boost::json::value& value) noexcept;

// str.title() for ASCII text: "data_analyst" -> "Data_Analyst", "hello world" -> "Hello World".
std::string python_title(std::string_view text);

// type(value).__name__: dict, list, str, int, float, bool, NoneType.
std::string_view python_type_name(const boost::json::value& value);

} // namespace ksid::protocol
