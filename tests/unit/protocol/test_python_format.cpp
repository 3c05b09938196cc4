#include "protocol/python_format.hpp"
#include "protocol/python_json.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

using namespace ksid::protocol;
namespace json = boost::json;

TEST_CASE("floats render like Python's repr") {
    CHECK(python_float(1.0) == "1.0");
    CHECK(python_float(0.1) == "0.1");
    CHECK(python_float(100.0) == "100.0");
    CHECK(python_float(1e-05) == "1e-05");
    CHECK(python_float(0.0001) == "0.0001");
    CHECK(python_float(1e16) == "1e+16");
    CHECK(python_float(1e15) == "1000000000000000.0");
    CHECK(python_float(123456789.123) == "123456789.123");
    CHECK(python_float(-2.5) == "-2.5");
    CHECK(python_float(0.0) == "0.0");
    CHECK(python_float(-0.0) == "-0.0");
    CHECK(python_float(1.5e300) == "1.5e+300");
    CHECK(python_float(2.5e-10) == "2.5e-10");
    CHECK(python_float(0.000123) == "0.000123");
}

TEST_CASE("str() of decoded JSON matches the spec's observed example") {
    auto v = json::parse(R"({"X": {"k": true, "n": null, "f": 1.0, "s": "it's"}})");
    CHECK(python_str(v) == R"({'X': {'k': True, 'n': None, 'f': 1.0, 's': "it's"}})");
}

TEST_CASE("str() of scalars") {
    CHECK(python_str(json::value("text")) == "text");
    CHECK(python_str(json::value(nullptr)) == "None");
    CHECK(python_str(json::value(5)) == "5");
    CHECK(python_str(json::parse("1e2")) == "100.0");
    CHECK(python_str(json::parse("[1, \"a\", [false]]")) == "[1, 'a', [False]]");
}

TEST_CASE("repr() escapes like Python") {
    CHECK(python_repr(json::value("a\nb\\c\t")) == R"('a\nb\\c\t')");
    CHECK(python_repr(json::value("both ' and \"")) == R"('both \' and "')");
    CHECK(python_repr(json::value("\x01")) == R"('\x01')");
    CHECK(python_repr(json::value("caf\xc3\xa9")) == "'caf\xc3\xa9'");
}

TEST_CASE("type names are Python's") {
    CHECK(python_type_name(json::value(nullptr)) == "NoneType");
    CHECK(python_type_name(json::parse("[]")) == "list");
    CHECK(python_type_name(json::parse("{}")) == "dict");
    CHECK(python_type_name(json::parse("\"s\"")) == "str");
    CHECK(python_type_name(json::parse("1")) == "int");
    CHECK(python_type_name(json::parse("1.5")) == "float");
    CHECK(python_type_name(json::parse("true")) == "bool");
}

TEST_CASE("json.dumps layout: separators, ASCII escapes, surrogate pairs") {
    auto v = json::parse(
        R"({"a": [1, 2.0, "\u00e9\ud83e\udd16"], "b": {}, "c": [], "d": null, "e": "\n\"\u0001\u007f"})");
    CHECK(to_python_json(v) ==
          R"({"a": [1, 2.0, "\u00e9\ud83e\udd16"], "b": {}, "c": [], "d": null, "e": "\n\"\u0001\u007f"})");
}

TEST_CASE("json.dumps indent=2 layout") {
    auto v = json::parse(R"({"a": {"b": [1, 2], "c": {}}, "d": []})");
    CHECK(to_python_json(v, 2) ==
          "{\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ],\n    \"c\": {}\n  },\n  \"d\": []\n}");
}

TEST_CASE("truthiness is Python's") {
    for (auto text : {"null", "false", "0", "0.0", "\"\"", "[]", "{}"}) CHECK_FALSE(python_truthy(json::parse(text)));
    for (auto text : {"true", "1", "-1", "0.5", "\"x\"", "[0]", "{\"a\": null}"}) CHECK(python_truthy(json::parse(text)));
}

TEST_CASE("str.title()") {
    CHECK(python_title("data_analyst") == "Data_Analyst");
    CHECK(python_title("hello world") == "Hello World");
    CHECK(python_title("RESEARCHER") == "Researcher");
    CHECK(python_title("x2y") == "X2Y");
    CHECK(python_title("") == "");
}
