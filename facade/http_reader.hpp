#pragma once
// Reading HTTP/1.1 requests off one facade connection, before anything is known about the client. Every
// buffer is bounded: the header (header_limit), the read buffer (buffer_limit, which also bounds what
// Beast must hold whole but does not limit itself: a chunk-size line with its extensions, a trailer) and
// the body (facade.max_body_bytes). Each step has its timeout. Framing that could make the connection read
// the rest of a request as the next one (a Transfer-Encoding other than chunked, RFC 9112 §6.3) is refused.
// Beast is in this header: only the facade's .cpp files include it.
#include "config/config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>

namespace ksid::facade {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// What one read step came to.
struct ReadStep {
    enum class Kind {
        ready,   // this part of the request is in
        ended,   // the client closed or went silent past a timeout: close without an answer
        refused, // the request cannot be read on: answer `status` with `reason`, then close
    };
    Kind kind = Kind::ready;
    int status = 0;
    std::string reason;
};

class HttpRequestReader {
public:
    static constexpr std::size_t header_limit = 16 * 1024;
    // A whole header plus one of Beast's reads (64 KiB at a time); more is never needed at once.
    static constexpr std::size_t buffer_limit = header_limit + 64 * 1024;

    HttpRequestReader(boost::beast::tcp_stream& stream, const config::FacadeSettings& settings);

    // The next request's header, within facade.header_timeout for the connection's first request and
    // facade.idle_timeout for later ones, its framing checked.
    boost::asio::awaitable<ReadStep> read_header(bool first_request);
    // The rest of the request, within facade.body_timeout.
    boost::asio::awaitable<ReadStep> read_body();

    // The request read so far (after a refusal, what could be parsed of it).
    const HttpRequest& request() const { return parser_->get(); }
    // Whether the whole request, body included, has been read.
    bool complete() const { return parser_->is_done(); }

private:
    boost::beast::tcp_stream& stream_;
    const config::FacadeSettings& settings_;
    boost::beast::flat_buffer buffer_{buffer_limit}; // kept across requests: it may hold the next one
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

// Why a request's Transfer-Encoding cannot be read (ksid reads exactly "chunked"), or nullopt when it can
// or there is none. Pure; exposed for the unit tests.
std::optional<std::string> unsupported_transfer_encoding(const HttpRequest& request);

// After answering a request that was not read to the end: shuts down the sending side and discards what
// the client still sends (for a short while, up to a bound), so that closing with unread input does not
// reset the connection and lose the answer.
boost::asio::awaitable<void> discard_input_before_close(boost::beast::tcp_stream& stream);

} // namespace ksid::facade
