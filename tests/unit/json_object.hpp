#pragma once
// Test helper: a JSON text that must parse to an object (the test case stops otherwise).
#include "protocol/json_parse.hpp"

#include <boost/json/object.hpp>

#include <doctest/doctest.h>

#include <string_view>

inline boost::json::object json_object_of(std::string_view text) {
    auto v = ksid::protocol::parse_json_text(text);
    REQUIRE(v.has_value());
    REQUIRE(v->is_object());
    return v->get_object();
}
