#pragma once
// Test helper for both upstream formats' SSE translators: a stream whose text arrives as "Hel" + "lo" must
// give the same CLI events whatever the format and however the bytes are split.
#include "protocol/upstream_common.hpp"

#include <boost/json/object.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

// Feeds `sse` to `t` `step` bytes at a time; checks init (with the session), the two text deltas and their
// output count; returns the result object for the format's own checks.
inline boost::json::object check_hello_stream(ksid::protocol::StreamTranslator& t, std::string_view sse,
                                              std::size_t step, const std::string& session) {
    using Kind = ksid::protocol::StreamEvent::Kind;
    CAPTURE(step);
    std::vector<ksid::protocol::StreamEvent> events{t.init_event()};
    for (std::size_t i = 0; i < sse.size(); i += step)
        t.feed(sse.substr(i, step), events);
    auto last = t.finish(3);
    REQUIRE(last.has_value());
    REQUIRE(events.size() == 3);
    CHECK(events[0].kind == Kind::init);
    CHECK(events[0].session_id == session);
    CHECK(events[1].kind == Kind::text_delta);
    CHECK(events[1].text == "Hel");
    CHECK(events[2].text == "lo");
    CHECK(events[2].session_id == session);
    CHECK(t.output_bytes() == 5 + 2 * 96);
    CHECK(last->at("result") == "Hello");
    CHECK(last->at("is_error") == false);
    CHECK(last->at("session_id").as_string() == session);
    return std::move(*last);
}
