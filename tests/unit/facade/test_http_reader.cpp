#include "facade/http_reader.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace ksid::facade;
namespace http = boost::beast::http;

namespace {
HttpRequest post_with(std::initializer_list<const char*> transfer_encodings, unsigned version = 11) {
    HttpRequest req{http::verb::post, "/v1/chat/completions", version};
    for (const char* te : transfer_encodings)
        req.insert(http::field::transfer_encoding, te);
    return req;
}
} // namespace

TEST_CASE("Transfer-Encoding: exactly chunked is read, anything else is refused (RFC 9112 §6.3)") {
    CHECK_FALSE(unsupported_transfer_encoding(post_with({})));
    CHECK_FALSE(unsupported_transfer_encoding(post_with({"chunked"})));
    CHECK_FALSE(unsupported_transfer_encoding(post_with({"Chunked"})));
    CHECK_FALSE(unsupported_transfer_encoding(post_with({" chunked ,"})));
    for (const char* te : {"gzip", "chunked, gzip", "gzip, chunked", "xchunked", "chunkedx", "identity", "",
                           "chunked, chunked", ",", "chunked;q=1"})
        CHECK_MESSAGE(unsupported_transfer_encoding(post_with({te})), te);
    CHECK(unsupported_transfer_encoding(post_with({"gzip", "chunked"})));
    CHECK(unsupported_transfer_encoding(post_with({"chunked", "chunked"})));
    CHECK(unsupported_transfer_encoding(post_with({"chunked"}, 10))); // HTTP/1.0: faulty framing
    CHECK_FALSE(unsupported_transfer_encoding(post_with({}, 10)));
}

namespace {
// Feeds `input` to a framer `piece` bytes at a time; returns the bodies of the complete requests and
// the refusal, if any.
struct Framed {
    std::vector<std::string> bodies;
    FramingStep refusal;
};
Framed frame(std::string_view input, std::size_t piece, std::uint64_t max_body = 1 << 20) {
    Framed out;
    HttpRequestFramer framer;
    std::size_t pos = 0;
    for (;;) {
        framer.start_request(max_body);
        for (bool header = true;;) {
            auto step = header ? framer.parse_header() : framer.parse_body();
            if (step.kind == FramingStep::Kind::refused) {
                out.refusal = step;
                return out;
            }
            if (step.kind == FramingStep::Kind::ready) {
                if (!header) break;
                header = false;
                continue;
            }
            if (pos == input.size()) return out;
            auto space = framer.space();
            const std::size_t n = std::min({space.size(), piece, input.size() - pos});
            std::memcpy(space.data(), input.data() + pos, n);
            framer.commit(n);
            pos += n;
        }
        out.bodies.push_back(framer.request().body());
    }
}
} // namespace

TEST_CASE("the framer reads pipelined requests the same however the bytes arrive") {
    const std::string input =
        "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nde\r\n0\r\nT: x\r\n\r\n"
        "GET /health HTTP/1.1\r\n\r\n";
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{65536}}) {
        const auto framed = frame(input, piece);
        CHECK(framed.refusal.kind == FramingStep::Kind::need_more);
        CHECK(framed.bodies == std::vector<std::string>{"abc", "de", ""});
    }
}

TEST_CASE("the framer holds at most its bound of unparsed bytes, then refuses") {
    const std::string endless_extension =
        "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;" + std::string(200000, 'e');
    const auto framed = frame(endless_extension, 65536);
    CHECK(framed.refusal.kind == FramingStep::Kind::refused);
    CHECK(framed.refusal.status == 400);
    CHECK(framed.refusal.reason.find("chunk-size line") != std::string::npos);

    const auto header = frame("GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n", 1000);
    CHECK(header.refusal.status == 400);
    CHECK(header.refusal.reason.starts_with("malformed HTTP request:"));

    const auto body = frame("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world", 4, 10);
    CHECK(body.refusal.status == 413);

    const auto gzip = frame("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\r\n\r\n", 5);
    CHECK(gzip.refusal.status == 400);
    CHECK(gzip.bodies.empty()); // the body is never read as a second request
}
