#include "facade/beast_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>

namespace ksid::facade {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

// EOF or an error on the socket while a response is under way means the client went away.
asio::awaitable<void> watch(beast::tcp_stream& stream, std::function<void()> gone,
                            asio::cancellation_slot slot) {
    auto& sock = stream.socket();
    for (;;) {
        auto [ec] = co_await sock.async_wait(tcp::socket::wait_read,
                                             asio::bind_cancellation_slot(slot, as_tuple(use_awaitable)));
        if (ec) co_return; // cancelled: the exchange ended
        char c;
        const auto n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) co_return; // a pipelined request: not a disconnect; stop watching
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            gone();
            co_return;
        }
    }
}

} // namespace

std::string_view request_path(const HttpRequest& req) {
    const std::string_view target = as_view(req.target());
    return target.substr(0, target.find('?'));
}

BeastExchange::BeastExchange(beast::tcp_stream& stream, const HttpRequest& req, std::string request_id,
                             std::chrono::milliseconds write_timeout)
    : stream_(stream), req_(req), request_id_(std::move(request_id)), path_(request_path(req)),
      write_timeout_(write_timeout) {}

BeastExchange::~BeastExchange() {
    stop_watching_.emit(asio::cancellation_type::terminal);
}

std::string_view BeastExchange::query() const {
    const std::string_view target = as_view(req_.target());
    const auto q = target.find('?');
    return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::string_view BeastExchange::header(std::string_view name) const {
    return as_view(req_[beast::string_view(name.data(), name.size())]);
}

template <class Body>
void BeastExchange::common_headers(http::response<Body>& res) const {
    res.set(http::field::server, "ksid/" KSID_VERSION);
    res.set("X-Request-Id", request_id_);
    res.set("request-id", request_id_); // the name the Anthropic SDKs read
    for (const auto& [name, value] : extra_headers)
        res.set(name, value);
    res.keep_alive(req_.keep_alive());
}

asio::awaitable<bool> BeastExchange::respond(const HttpResponse& r) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), req_.version()};
    common_headers(res);
    res.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers)
        res.set(name, value);
    if (r.close) res.keep_alive(false);
    res.body() = r.body;
    res.prepare_payload();
    if (req_.method() == http::verb::head) res.body().clear();
    http::response_serializer<http::string_body> serializer(res);
    const bool written = co_await write_serialized(serializer);
    const bool keep = written && res.keep_alive();
    co_return keep;
}

asio::awaitable<bool> BeastExchange::start_stream(HttpResponse head) {
    auto res = std::make_unique<http::response<http::empty_body>>(static_cast<http::status>(head.status),
                                                                  req_.version());
    common_headers(*res);
    res->set(http::field::content_type, head.content_type);
    for (const auto& [name, value] : head.headers)
        res->set(name, value);
    res->chunked(true);
    auto sr = std::make_unique<http::response_serializer<http::empty_body>>(*res);
    stream_.expires_after(write_timeout_);
    auto [ec, n] = co_await http::async_write_header(stream_, *sr, as_tuple(use_awaitable));
    stream_.expires_never();
    co_return !ec;
}

// Chunks are framed by hand, as bytes (GCC 12 cannot keep Beast's chunk temporaries in a coroutine frame),
// and written piece by piece, each piece within the write timeout.
asio::awaitable<bool> BeastExchange::write_chunk(std::string data) {
    if (data.empty()) co_return true; // an empty chunk would end the stream
    char size_line[24];
    const int size_length = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
    const std::array<asio::const_buffer, 3> chunk{asio::buffer(size_line, size_length), asio::buffer(data),
                                                  asio::buffer("\r\n", 2)};
    const bool written = co_await write_buffers(chunk);
    co_return written;
}

asio::awaitable<bool> BeastExchange::end_stream() {
    static constexpr char last[] = "0\r\n\r\n";
    const std::array<asio::const_buffer, 1> last_chunk{asio::buffer(last, sizeof last - 1)};
    const bool written = co_await write_buffers(last_chunk);
    co_return written;
}

void BeastExchange::on_client_gone(std::function<void()> gone) {
    asio::co_spawn(stream_.get_executor(), watch(stream_, std::move(gone), stop_watching_.slot()),
                   asio::detached);
}

asio::awaitable<bool>
BeastExchange::write_serialized(http::response_serializer<http::string_body>& serializer) {
    boost::system::error_code ec;
    while (!ec && !serializer.is_done()) {
        stream_.expires_after(write_timeout_);
        auto [write_ec, n] = co_await http::async_write_some(stream_, serializer, as_tuple(use_awaitable));
        ec = write_ec;
    }
    stream_.expires_never();
    co_return !ec;
}

asio::awaitable<bool> BeastExchange::write_buffers(std::span<const asio::const_buffer> buffers) {
    beast::buffers_suffix<std::span<const asio::const_buffer>> rest(buffers);
    boost::system::error_code ec;
    while (!ec && beast::buffer_bytes(rest) != 0) {
        stream_.expires_after(write_timeout_);
        auto [write_ec, n] = co_await stream_.async_write_some(rest, as_tuple(use_awaitable));
        ec = write_ec;
        rest.consume(n);
    }
    stream_.expires_never();
    co_return !ec;
}

} // namespace ksid::facade
