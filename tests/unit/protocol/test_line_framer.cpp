#include "protocol/line_framer.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

using namespace ksid::protocol;
using Status = LineFramer::Status;

namespace {
void feed(LineFramer& f, std::string_view bytes) {
    auto space = f.prepare(bytes.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    f.commit(bytes.size());
}
} // namespace

TEST_CASE("lines are split on newline and kept without it") {
    LineFramer f(100);
    feed(f, "one\ntwo\nthr");
    auto e = f.next();
    REQUIRE(e.status == Status::line);
    CHECK(e.line == "one");
    e = f.next();
    REQUIRE(e.status == Status::line);
    CHECK(e.line == "two");
    CHECK(f.next().status == Status::need_more);
    feed(f, "ee\n");
    e = f.next();
    REQUIRE(e.status == Status::line);
    CHECK(e.line == "three");
    CHECK(f.next().status == Status::need_more);
}

TEST_CASE("a line split across many reads is reassembled") {
    LineFramer f(100);
    for (char c : std::string("{\"command\":1}")) {
        feed(f, std::string_view(&c, 1));
        CHECK(f.next().status == Status::need_more);
    }
    feed(f, "\n");
    auto e = f.next();
    REQUIRE(e.status == Status::line);
    CHECK(e.line == "{\"command\":1}");
}

TEST_CASE("the limit counts bytes without the newline: exactly max is fine, one more is too long") {
    LineFramer f(8);
    feed(f, "12345678\n");
    auto e = f.next();
    REQUIRE(e.status == Status::line);
    CHECK(e.line == "12345678");
    LineFramer g(8);
    feed(g, "123456789\n");
    CHECK(g.next().status == Status::too_long);
}

TEST_CASE("bytes past the limit without a newline are reported before any newline arrives") {
    LineFramer f(8);
    feed(f, "12345678");
    CHECK(f.next().status == Status::need_more);
    feed(f, "9");
    CHECK(f.next().status == Status::too_long);
}

TEST_CASE("at end of input the unterminated rest is a line (legacy behaviour)") {
    LineFramer f(100);
    feed(f, "{\"a\":1}");
    CHECK(f.next().status == Status::need_more);
    auto rest = f.finish();
    REQUIRE(rest);
    CHECK(*rest == "{\"a\":1}");
    CHECK_FALSE(f.finish());
}

TEST_CASE("an idle framer releases its buffer") {
    LineFramer f(100000);
    feed(f, std::string(50000, 'x') + "\n");
    CHECK(f.next().status == Status::line);
    CHECK(f.next().status == Status::need_more);
    f.release_memory();
    CHECK(f.capacity() < 100);
}

TEST_CASE("release keeps pending bytes") {
    LineFramer f(100);
    feed(f, "abc");
    CHECK(f.next().status == Status::need_more);
    f.release_memory();
    feed(f, "\n");
    auto e = f.next();
    REQUIRE(e.status == Status::line);
    CHECK(e.line == "abc");
}
