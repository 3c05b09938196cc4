#include "facade/routes.hpp"

#include <doctest/doctest.h>

using namespace ksid::facade;
using Kind = RouteMatch::Kind;

TEST_CASE("routes: found, 404 and 405 from the table") {
    const auto& t = facade_routes();
    auto m = t.match("POST", "/v1/chat/completions");
    REQUIRE(m.kind == Kind::found);
    CHECK(m.route->endpoint == Endpoint::chat_completions);
    CHECK(m.route->needs_auth);

    m = t.match("GET", "/v1/chat/completions");
    CHECK(m.kind == Kind::method_not_allowed);
    CHECK(m.allow == "POST");
    CHECK(m.route->pattern == "/v1/chat/completions");

    m = t.match("HEAD", "/health");
    REQUIRE(m.kind == Kind::found);
    CHECK_FALSE(m.route->needs_auth);
    m = t.match("DELETE", "/health");
    CHECK(m.kind == Kind::method_not_allowed);
    CHECK(m.allow == "GET, HEAD");

    m = t.match("GET", "/v1/models/sonnet");
    REQUIRE(m.kind == Kind::found);
    CHECK(m.route->endpoint == Endpoint::model);
    CHECK(m.parameter == "sonnet");
    CHECK(t.match("GET", "/v1/models").route->endpoint == Endpoint::models);
    CHECK(t.match("GET", "/v1/models/").kind == Kind::not_found); // no id
    CHECK(t.match("GET", "/v1/chat").kind == Kind::not_found);
    CHECK(t.match("GET", "/").kind == Kind::not_found);
    CHECK(t.match("GET", "/healthz").kind == Kind::not_found);
}

TEST_CASE("routes: a custom table") {
    RouteTable t({{"/a/{id}", {"PUT"}, Endpoint::model}, {"/a/b", {"GET"}, Endpoint::models}});
    CHECK(t.match("GET", "/a/b").route->endpoint == Endpoint::models); // the exact route wins for its method
    auto m = t.match("PUT", "/a/b");
    REQUIRE(m.kind == Kind::found);
    CHECK(m.parameter == "b");
    m = t.match("POST", "/a/b");
    CHECK(m.kind == Kind::method_not_allowed);
}
