#include "protocol/resp.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;

TEST_CASE("resp_command encodes a binary-safe command") {
    CHECK(resp_command({"SET", "k", std::string("a\r\nb\0c", 6)}) ==
          std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\0c\r\n", 32));
    CHECK(resp_command({"PING"}) == "*1\r\n$4\r\nPING\r\n");
}

TEST_CASE("RespReader parses every reply type, in pieces, in order") {
    RespReader r;
    const std::string stream =
        "+OK\r\n-ERR wrong\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:7\r\n";
    std::vector<RespValue> got;
    for (char c : stream) { // one byte at a time: a reply is returned only when complete
        r.feed(std::string_view(&c, 1));
        for (;;) {
            auto v = r.next();
            REQUIRE(v.has_value());
            if (!*v) break;
            got.push_back(std::move(**v));
        }
    }
    REQUIRE(got.size() == 6);
    CHECK(got[0].type == RespValue::Type::status);
    CHECK(got[0].text == "OK");
    CHECK(got[1].is_error());
    CHECK(got[1].text == "ERR wrong");
    CHECK(got[2].as_integer() == 42);
    CHECK(got[3].text == "hello");
    CHECK(got[4].is_nil());
    REQUIRE(got[5].elements.size() == 2);
    CHECK(got[5].elements[0].text == "a");
    CHECK(got[5].elements[1].elements[0].integer == 7);
    CHECK(r.buffered() == 0);
}

TEST_CASE("RespReader refuses bytes that are not RESP") {
    RespReader r;
    r.feed("?what\r\n");
    CHECK_FALSE(r.next().has_value());
}

TEST_CASE("RespReader refuses an aggregate too large to allocate before it arrives") {
    RespReader r; // hiredis would allocate 555 million element pointers for this header
    r.feed("*555555555\r\n:1\r\n");
    auto v = r.next();
    REQUIRE_FALSE(v.has_value());
    CHECK(v.error().find("2^20") != std::string::npos);
    RespReader big;
    big.feed("$999999999999\r\n");
    CHECK_FALSE(big.next().has_value());
    RespReader fine; // a string that looks like a header inside a bulk payload is content
    fine.feed("$16\r\n*999999999\r\nabcd\r\n");
    auto ok = fine.next();
    REQUIRE(ok.has_value());
    REQUIRE(ok->has_value());
    CHECK((*ok)->text == "*999999999\r\nabcd");
}

TEST_CASE("as_integer reads decimal strings only") {
    RespValue v;
    v.type = RespValue::Type::string;
    v.text = "123";
    CHECK(v.as_integer() == 123);
    v.text = "12a";
    CHECK_FALSE(v.as_integer());
    v.text = "";
    CHECK_FALSE(v.as_integer());
}

TEST_CASE("parse_redis_url") {
    std::string why;
    auto a = parse_redis_url("redis://127.0.0.1:6390/2", why);
    REQUIRE(a);
    CHECK(a->host == "127.0.0.1");
    CHECK(a->port == 6390);
    CHECK(a->db == 2);
    CHECK(a->text() == "redis://127.0.0.1:6390/2");
    auto b = parse_redis_url("redis://user:s3cret@[::1]/0", why);
    REQUIRE(b);
    CHECK(b->host == "::1");
    CHECK(b->port == 6379);
    CHECK(b->user == "user");
    CHECK(b->password == "s3cret");
    CHECK(b->text().find("s3cret") == std::string::npos); // never printed
    auto c = parse_redis_url("redis://:only-password@redis.internal", why);
    REQUIRE(c);
    CHECK(c->password == "only-password");
    CHECK(c->user.empty());
    for (const char* bad : {"http://x", "rediss://x", "redis://", "redis://h:0", "redis://h:70000",
                            "redis://h/x", "redis://h/2000", "redis://h o", "redis://[::1"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_redis_url(bad, why));
        CHECK_FALSE(why.empty());
    }
}
