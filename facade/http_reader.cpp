#include "facade/http_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <array>
#include <chrono>

namespace ksid::facade {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

ReadStep refused(int status, std::string reason) {
    return ReadStep{ReadStep::Kind::refused, status, std::move(reason)};
}

const ReadStep ended{ReadStep::Kind::ended, 0, {}};

const char* const body_too_large = "the request body is larger than facade.max_body_bytes";

// The client left, or went silent past a timeout (the stream closed the socket): nobody to answer.
bool client_left(const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message ||
           ec == beast::error::timeout || ec == asio::error::eof || ec == asio::error::operation_aborted ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

} // namespace

std::optional<std::string> unsupported_transfer_encoding(const HttpRequest& request) {
    const auto [begin, end] = request.equal_range(http::field::transfer_encoding);
    if (begin == end) return std::nullopt;
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (request.version() < 11) return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
    std::size_t codings = 0;
    for (auto field = begin; field != end; ++field) {
        std::string_view list(field->value().data(), field->value().size());
        while (!list.empty()) {
            const auto comma = list.find(',');
            const std::string_view coding = trim(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
            if (coding.empty()) continue; // empty list elements are allowed (RFC 9110 §5.6.1)
            ++codings;
            if (!beast::iequals(coding, "chunked"))
                return "Transfer-Encoding: only chunked is supported, and nothing else may be applied";
        }
    }
    if (codings != 1) return "Transfer-Encoding: chunked must be applied exactly once";
    return std::nullopt;
}

HttpRequestReader::HttpRequestReader(beast::tcp_stream& stream, const config::FacadeSettings& settings)
    : stream_(stream), settings_(settings) {}

asio::awaitable<ReadStep> HttpRequestReader::read_header(bool first_request) {
    parser_.emplace();
    parser_->body_limit(settings_.max_body_bytes);
    parser_->header_limit(header_limit);
    stream_.expires_after(config::to_ms(first_request ? settings_.header_timeout : settings_.idle_timeout));
    auto [ec, n] = co_await http::async_read_header(stream_, buffer_, *parser_, as_tuple(use_awaitable));
    stream_.expires_never();
    if (ec == http::error::body_limit) co_return refused(413, body_too_large);
    if (ec) {
        if (client_left(ec) || buffer_.size() == 0) co_return ended;
        co_return refused(400, "malformed HTTP request: " + ec.message());
    }
    // Without a length ksid can trust, what follows the header would be read as the next request.
    if (auto problem = unsupported_transfer_encoding(parser_->get())) co_return refused(400, *problem);
    co_return ReadStep{};
}

asio::awaitable<ReadStep> HttpRequestReader::read_body() {
    if (parser_->is_done()) co_return ReadStep{};
    stream_.expires_after(config::to_ms(settings_.body_timeout));
    auto [ec, n] = co_await http::async_read(stream_, buffer_, *parser_, as_tuple(use_awaitable));
    stream_.expires_never();
    if (!ec) co_return ReadStep{};
    if (ec == http::error::body_limit) co_return refused(413, body_too_large);
    if (ec == http::error::buffer_overflow)
        co_return refused(400, "a chunk-size line, chunk extension or trailer is longer than " +
                                   std::to_string(buffer_limit) + " bytes");
    if (client_left(ec)) co_return ended;
    co_return refused(400, "malformed HTTP request body: " + ec.message());
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
