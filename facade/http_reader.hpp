#pragma once
// Reading HTTP/1.1 requests off one facade connection, before anything is known about the client: bytes
// go from the socket into the connection's HttpRequestFramer (which holds every bound and check), each step
// within its timeout. Beast is in this header: only the facade's .cpp files include it.
#include "config/config.hpp"
#include "facade/http_request_framer.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <string>

namespace ksid::facade {

// What one read step came to: ready, refused or ended (never need_more).
using ReadStep = FramingStep;

class HttpRequestReader {
public:
    HttpRequestReader(boost::beast::tcp_stream& stream, const config::FacadeSettings& settings);

    // The next request's header, within facade.header_timeout for the connection's first request and
    // facade.idle_timeout for later ones, its framing checked.
    boost::asio::awaitable<ReadStep> read_header(bool first_request);
    // The rest of the request, within facade.body_timeout.
    boost::asio::awaitable<ReadStep> read_body();

    // The request read so far (after a refusal, what could be parsed of it).
    const HttpRequest& request() const { return framer_.request(); }
    // Whether the whole request, body included, has been read.
    bool complete() const { return framer_.complete(); }

private:
    boost::asio::awaitable<ReadStep> read_until_ready(bool header);

    boost::beast::tcp_stream& stream_;
    const config::FacadeSettings& settings_;
    HttpRequestFramer framer_;
};

// After answering a request that was not read to the end: shuts down the sending side and discards what
// the client still sends (for a short while, up to a bound), so that closing with unread input does not
// reset the connection and lose the answer.
boost::asio::awaitable<void> discard_input_before_close(boost::beast::tcp_stream& stream);

} // namespace ksid::facade
