#include "daemon/backends/upstream/upstream_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace ksid::daemon {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Outcome = UpstreamReply::Outcome;

namespace {

// Short: servers close idle keep-alive connections after a few seconds (Node: 5 s, ksid: 120 s), and a
// connection that closes just as it is reused fails a request that must not be retried.
constexpr auto pool_idle_limit = std::chrono::seconds(4);
constexpr std::size_t max_idle_connections = 32;

struct Connection {
    std::unique_ptr<beast::tcp_stream> tcp;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer{1u << 20}; // bounds chunk headers and trailers too (header_limit does not)
    Clock::time_point idle_since;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *tcp; }

    // An idle connection the server has not closed: nothing to read yet (EOF or stray bytes: drop it).
    bool still_open() {
        char byte;
        const auto n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

// The state one exchange shares with its cancel handler.
struct InFlight {
    bool cancelled = false;
    Connection* connection = nullptr;
    tcp::resolver* resolver = nullptr;
};

void fail(UpstreamReply& reply, const boost::system::error_code& ec, const InFlight& flight,
          Outcome otherwise, const std::string& what) {
    if (flight.cancelled)
        reply.outcome = Outcome::cancelled;
    else if (ec == beast::error::timeout)
        reply.outcome = Outcome::timed_out;
    else if (ec == http::error::body_limit)
        reply.outcome = Outcome::too_large;
    else
        reply.outcome = otherwise;
    reply.detail = what + ": " + ec.message();
}

// After any completed step: a cancel that came meanwhile stops the exchange before the next one starts.
bool stopped(UpstreamReply& reply, const InFlight& flight) {
    if (!flight.cancelled) return false;
    reply.outcome = Outcome::cancelled;
    reply.detail = "cancelled";
    return true;
}

template <class Stream>
asio::awaitable<bool> exchange_on(Stream& stream, Connection& c, const http::request<http::string_body>& req,
                                  const UpstreamExchange& x, UpstreamReply& reply, const InFlight& flight) {
    c.lowest().expires_at(x.deadline);
    auto [wec, wn] = co_await http::async_write(stream, req, as_tuple(use_awaitable));
    if (wec) {
        fail(reply, wec, flight, Outcome::failed_after_send, "sending the request failed");
        co_return false;
    }
    if (stopped(reply, flight)) co_return false;
    http::response_parser<http::string_body> parser;
    parser.body_limit(x.max_body_bytes);
    parser.header_limit(64 * 1024);
    auto [hec, hn] = co_await http::async_read_header(stream, c.buffer, parser, as_tuple(use_awaitable));
    if (hec) {
        fail(reply, hec, flight, Outcome::failed_after_send, "the upstream did not answer");
        co_return false;
    }
    if (stopped(reply, flight)) co_return false;
    auto& res = parser.get();
    reply.status = static_cast<int>(res.result_int());
    reply.retry_after = std::string(res[http::field::retry_after]);
    reply.retry_after_ms = std::string(res["retry-after-ms"]);
    reply.session_id = std::string(res["X-Session-Id"]);
    if (reply.status == 200 && x.on_success_body) {
        while (!parser.is_done()) {
            auto [ec, n] = co_await http::async_read_some(stream, c.buffer, parser, as_tuple(use_awaitable));
            if (!res.body().empty()) {
                reply.body_started = true;
                x.on_success_body(reply, res.body());
                res.body().clear(); // the string_body reader appends at size(): clearing is safe
            }
            if (ec) {
                fail(reply, ec, flight, Outcome::failed_after_send, "reading the response failed");
                co_return false;
            }
            if (stopped(reply, flight)) co_return false;
        }
    } else {
        auto [ec, n] = co_await http::async_read(stream, c.buffer, parser, as_tuple(use_awaitable));
        if (ec) {
            fail(reply, ec, flight, Outcome::failed_after_send, "reading the response failed");
            co_return false;
        }
        if (stopped(reply, flight)) co_return false;
        reply.body = std::move(res.body());
    }
    reply.outcome = Outcome::response;
    co_return parser.keep_alive() && c.buffer.size() == 0;
}

} // namespace

struct UpstreamClient::Impl {
    asio::any_io_executor executor;
    protocol::UpstreamBase base;
    std::string ca_file;
    std::chrono::milliseconds connect_timeout;
    std::shared_ptr<spdlog::logger> log;
    ssl::context ssl_context{ssl::context::tls_client};
    std::vector<std::unique_ptr<Connection>> idle;

    std::unique_ptr<Connection> take_idle() {
        const auto now = Clock::now();
        while (!idle.empty()) {
            auto c = std::move(idle.back());
            idle.pop_back();
            if (now - c->idle_since < pool_idle_limit && c->still_open()) return c;
        }
        return nullptr;
    }

    void give_back(std::unique_ptr<Connection> c) {
        c->idle_since = Clock::now();
        c->lowest().expires_never();
        if (idle.size() >= max_idle_connections) idle.erase(idle.begin());
        idle.push_back(std::move(c));
    }

    asio::awaitable<std::unique_ptr<Connection>> connect(UpstreamReply& reply, Clock::time_point deadline,
                                                         InFlight& flight) {
        std::vector<tcp::endpoint> endpoints;
        boost::system::error_code not_an_address;
        const auto address = asio::ip::make_address(base.host, not_an_address);
        if (!not_an_address) {
            endpoints.emplace_back(address, base.port);
        } else { // (a lookup in progress cannot be interrupted; getaddrinfo's own timeouts bound it)
            tcp::resolver resolver(executor);
            flight.resolver = &resolver;
            const std::string service = std::to_string(base.port);
            auto [rec, results] =
                co_await resolver.async_resolve(base.host, service, as_tuple(use_awaitable));
            flight.resolver = nullptr;
            if (stopped(reply, flight)) co_return nullptr;
            if (rec) {
                fail(reply, rec, flight, Outcome::connect_failed, "cannot resolve " + base.host);
                co_return nullptr;
            }
            for (const auto& entry : results)
                endpoints.push_back(entry.endpoint());
        }
        auto c = std::make_unique<Connection>();
        if (base.tls)
            c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(executor, ssl_context);
        else
            c->tcp = std::make_unique<beast::tcp_stream>(executor);
        flight.connection = c.get();
        const auto connect_deadline = std::min(deadline, Clock::now() + connect_timeout);
        c->lowest().expires_at(connect_deadline);
        auto [cec, ep] = co_await c->lowest().async_connect(endpoints, as_tuple(use_awaitable));
        if (cec) {
            // A connect that ran out of connect_timeout is "unreachable"; one cut by the call's deadline is a
            // timeout.
            fail(reply, cec, flight, Outcome::connect_failed, "cannot connect to " + base.host_header);
            if (reply.outcome == Outcome::timed_out && connect_deadline < deadline)
                reply.outcome = Outcome::connect_failed;
            co_return nullptr;
        }
        if (stopped(reply, flight)) co_return nullptr;
        c->lowest().socket().set_option(tcp::no_delay(true));
        if (c->tls) {
            if (not_an_address)
                SSL_set_tlsext_host_name(c->tls->native_handle(), base.host.c_str()); // SNI: names only
            c->tls->set_verify_mode(ssl::verify_peer);
            c->tls->set_verify_callback(ssl::host_name_verification(base.host));
            auto [hec] = co_await c->tls->async_handshake(ssl::stream_base::client, as_tuple(use_awaitable));
            if (hec) {
                fail(reply, hec, flight, Outcome::tls_failed,
                     "TLS handshake with " + base.host_header + " failed");
                if (reply.outcome == Outcome::timed_out && connect_deadline < deadline)
                    reply.outcome = Outcome::connect_failed; // a stalled handshake: nothing was sent
                if (reply.outcome == Outcome::tls_failed) {
                    const long verify = SSL_get_verify_result(c->tls->native_handle());
                    if (verify != X509_V_OK)
                        reply.detail +=
                            " (certificate: " + std::string(X509_verify_cert_error_string(verify)) + ")";
                }
                co_return nullptr;
            }
            if (stopped(reply, flight)) co_return nullptr;
        }
        co_return c;
    }
};

UpstreamClient::UpstreamClient(asio::any_io_executor executor, protocol::UpstreamBase base,
                               std::string ca_file, std::chrono::milliseconds connect_timeout,
                               std::shared_ptr<spdlog::logger> log)
    : base_(base), impl_(std::make_shared<Impl>()) {
    impl_->executor = executor;
    impl_->base = std::move(base);
    impl_->ca_file = std::move(ca_file);
    impl_->connect_timeout = connect_timeout;
    impl_->log = std::move(log);
}

UpstreamClient::~UpstreamClient() = default;

std::optional<std::string> UpstreamClient::init() {
    if (!base_.tls) return std::nullopt;
    boost::system::error_code ec;
    impl_->ssl_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                       ssl::context::no_tlsv1_1,
                                   ec);
    if (impl_->ca_file.empty())
        impl_->ssl_context.set_default_verify_paths(ec);
    else
        impl_->ssl_context.load_verify_file(impl_->ca_file, ec);
    if (ec)
        return "cannot load the TLS trust store" +
               (impl_->ca_file.empty() ? std::string() : " " + impl_->ca_file) + ": " + ec.message();
    return std::nullopt;
}

std::size_t UpstreamClient::idle_connections() const {
    return impl_->idle.size();
}

void UpstreamClient::close_idle() {
    impl_->idle.clear();
}

asio::awaitable<UpstreamReply> UpstreamClient::exchange(const UpstreamExchange& x, CancellationToken& cancel) {
    auto impl = impl_; // keeps the pool alive while this exchange runs
    UpstreamReply reply;
    if (cancel.cancelled()) {
        reply.outcome = Outcome::cancelled;
        co_return reply;
    }
    InFlight flight;
    const CancelHandlerScope on_cancel(cancel, [&flight] {
        flight.cancelled = true;
        if (flight.resolver) flight.resolver->cancel();
        if (flight.connection)
            flight.connection->lowest().close(); // stops even a connect moving to the next address
    });

    std::unique_ptr<Connection> c = impl->take_idle();
    if (!c) c = co_await impl->connect(reply, x.deadline, flight);
    if (!c) co_return reply;
    flight.connection = c.get();

    http::request<http::string_body> req{http::verb::post, x.target, 11};
    req.set(http::field::host, impl->base.host_header);
    req.set(http::field::user_agent, "ksid/" KSID_VERSION);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, x.event_stream ? "text/event-stream" : "application/json");
    for (const auto& [name, value] : x.headers)
        req.set(name, value);
    req.keep_alive(true);
    req.body() = x.body;
    req.prepare_payload();

    bool reusable = false;
    if (c->tls)
        reusable = co_await exchange_on(*c->tls, *c, req, x, reply, flight);
    else
        reusable = co_await exchange_on(*c->tcp, *c, req, x, reply, flight);
    flight.connection = nullptr;
    if (reusable && !flight.cancelled) impl->give_back(std::move(c));
    co_return reply;
}

} // namespace ksid::daemon
