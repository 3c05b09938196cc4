#include "protocol/rate_window.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;

TEST_CASE("a request window admits exactly its limit in any minute") {
    RateWindow w(3, 60'000);
    CHECK(w.admit(0, 1));
    CHECK(w.admit(10, 1));
    CHECK(w.admit(20, 1));
    CHECK_FALSE(w.admit(30, 1));
    CHECK(w.remaining(30) == 0);
    CHECK(w.wait_for(30, 1) == 60'000 - 30); // the first admission leaves at 60 000
    CHECK(w.reset_after(30) == 60'020 - 30); // the window is full again when the last leaves
    CHECK_FALSE(w.admit(59'999, 1));
    CHECK(w.admit(60'000, 1)); // exactly a minute after the first
    CHECK_FALSE(w.admit(60'005, 1));
    CHECK(w.used(60'005) == 3);
}

TEST_CASE("a token window admits on an estimate and settles with what was used") {
    RateWindow w(1000, 60'000);
    auto a = w.admit(0, 400);
    REQUIRE(a);
    auto b = w.admit(1, 500);
    REQUIRE(b);
    CHECK_FALSE(w.admit(2, 200)); // 900 + 200 > 1000
    w.settle(*a, 100);            // it used less
    CHECK(w.admit(3, 200));
    CHECK(w.used(3) == 800);
    w.settle(*b, 2000); // it used more: nothing fits until it leaves
    CHECK(w.remaining(4) == 0);
    CHECK(w.wait_for(4, 1) == 60'001 - 4);
    w.release(*b);
    CHECK(w.used(5) == 300);
}

TEST_CASE("one request larger than the whole window is let through when the window is empty") {
    RateWindow w(100, 60'000);
    CHECK(w.admit(0, 500));
    CHECK_FALSE(w.admit(1, 1));
    CHECK(w.admit(60'000, 1));
    RateWindow none(0, 60'000);
    CHECK_FALSE(none.admit(0, 1));
}

TEST_CASE("a lowered limit counts what was admitted") {
    RateWindow w(10, 60'000);
    for (int i = 0; i < 5; ++i)
        CHECK(w.admit(i, 1));
    w.set_limit(5);
    CHECK_FALSE(w.admit(10, 1));
    w.set_limit(6);
    CHECK(w.admit(11, 1));
}
