#include "daemon/core/cancellation.hpp"
#include "daemon/core/error.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace ksid::daemon;

TEST_CASE("errc: one category, a message for every value, is()") {
    std::set<std::string> messages;
    for (int v = static_cast<int>(errc::queue_full); v <= static_cast<int>(errc::internal); ++v) {
        const boost::system::error_code ec = static_cast<errc>(v);
        CHECK(ec.category().name() == std::string("ksid"));
        CHECK(ec.message() != "unknown ksid error");
        messages.insert(ec.message());
    }
    CHECK(messages.size() == static_cast<std::size_t>(errc::internal)); // all distinct
    const boost::system::error_code full = errc::queue_full;
    CHECK(is(full, errc::queue_full));
    CHECK_FALSE(is(full, errc::cancelled));
    CHECK_FALSE(is(boost::system::error_code(1, boost::system::generic_category()), errc::queue_full));
    result<int> r = errc::timed_out;
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::timed_out));
}

TEST_CASE("cancellation token: the first reason wins, the handler runs once, scopes remove it") {
    CancellationToken token;
    int calls = 0;
    {
        const CancelHandlerScope scope(token, [&] { ++calls; });
        token.cancel(errc::shutting_down, std::chrono::milliseconds(100));
        token.cancel(errc::cancelled);
    }
    CHECK(calls == 1);
    CHECK(token.cancelled());
    CHECK(token.reason() == errc::shutting_down);
    CHECK(token.grace() == std::chrono::milliseconds(100));
    CancellationToken later;
    {
        const CancelHandlerScope scope(later, [&] { ++calls; });
    }
    later.cancel(); // the scope ended: nothing runs
    CHECK(calls == 1);
    CHECK(later.reason() == errc::cancelled);
}
