#include "facade/http_reader.hpp"

#include <doctest/doctest.h>

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
