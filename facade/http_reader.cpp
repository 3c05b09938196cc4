#include "facade/http_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>

namespace ksid::facade {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;

HttpRequestReader::HttpRequestReader(beast::tcp_stream& stream, const config::FacadeSettings& settings)
    : stream_(stream), settings_(settings) {}

asio::awaitable<ReadStep> HttpRequestReader::read_header(bool first_request) {
    framer_.start_request(settings_.max_body_bytes);
    stream_.expires_after(config::to_ms(first_request ? settings_.header_timeout : settings_.idle_timeout));
    co_return co_await read_until_ready(true);
}

asio::awaitable<ReadStep> HttpRequestReader::read_body() {
    if (framer_.complete()) co_return ReadStep{ReadStep::Kind::ready, 0, {}};
    stream_.expires_after(config::to_ms(settings_.body_timeout));
    co_return co_await read_until_ready(false);
}

asio::awaitable<ReadStep> HttpRequestReader::read_until_ready(bool header) {
    for (;;) {
        FramingStep step = header ? framer_.parse_header() : framer_.parse_body();
        if (step.kind != FramingStep::Kind::need_more) {
            stream_.expires_never();
            co_return step;
        }
        // The client closed, reset, or went silent past the timeout (the stream closed the socket): nobody
        // to answer, whether or not part of a request came.
        auto [ec, n] = co_await stream_.async_read_some(framer_.space(), as_tuple(use_awaitable));
        if (ec) {
            stream_.expires_never();
            co_return ReadStep{ReadStep::Kind::ended, 0, {}};
        }
        framer_.commit(n);
    }
}

asio::awaitable<void> discard_input_before_close(beast::tcp_stream& stream) {
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    stream.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> sink;
    std::size_t discarded = 0;
    while (discarded < (64u << 20)) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
        if (ec) break;
        discarded += n;
    }
}

} // namespace ksid::facade
