#include "facade/http_server.hpp"

#include "daemon/core/lifecycle.hpp"
#include "facade/auth.hpp"
#include "facade/chat_completions.hpp"
#include "facade/endpoints.hpp"
#include "facade/http_errors.hpp"
#include "facade/routes.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <array>
#include <random>
#include <unordered_map>

namespace ksid::facade {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Clock = std::chrono::steady_clock;

namespace {

std::chrono::milliseconds ms(config::Seconds s) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

std::string random_request_id() {
    static std::mt19937_64 rng{std::random_device{}()};
    char buf[40];
    std::snprintf(buf, sizeof buf, "req_%016llx", static_cast<unsigned long long>(rng()));
    return buf;
}

std::string_view view(beast::string_view s) {
    return {s.data(), s.size()};
}

// One request being answered over Beast: what a handler sees of it (HttpExchange) and how it writes.
class BeastExchange final : public HttpExchange {
public:
    BeastExchange(beast::tcp_stream& stream, const Request& req, std::string request_id)
        : stream_(stream), req_(req), request_id_(std::move(request_id)) {
        path_ = view(req.target());
        if (auto q = path_.find('?'); q != std::string_view::npos) path_ = path_.substr(0, q);
    }
    ~BeastExchange() override { stop_watching_.emit(asio::cancellation_type::terminal); }

    std::string_view method() const override { return view(req_.method_string()); }
    std::string_view path() const override { return path_; }
    std::string_view header(std::string_view name) const override {
        return view(req_[beast::string_view(name.data(), name.size())]);
    }
    std::string_view body() const override { return req_.body(); }
    const std::string& request_id() const override { return request_id_; }
    void set_job_id(std::string id) override { job_id_ = std::move(id); }
    const std::string& job_id() const { return job_id_; }

    template <class Body>
    void common_headers(http::response<Body>& res) const {
        res.set(http::field::server, "ksid/" KSID_VERSION);
        res.set("X-Request-Id", request_id_);
        res.keep_alive(req_.keep_alive());
    }

    // A whole response; false when it could not be written.
    asio::awaitable<bool> respond(const HttpResponse& r) {
        http::response<http::string_body> res{static_cast<http::status>(r.status), req_.version()};
        common_headers(res);
        res.set(http::field::content_type, r.content_type);
        for (const auto& [name, value] : r.headers)
            res.set(name, value);
        if (r.close) res.keep_alive(false);
        res.body() = r.body;
        res.prepare_payload();
        auto [ec, n] = co_await http::async_write(stream_, res, as_tuple(use_awaitable));
        co_return !ec && res.keep_alive();
    }

    asio::awaitable<bool> start_stream(HttpResponse head) override {
        auto res = std::make_unique<http::response<http::empty_body>>(static_cast<http::status>(head.status),
                                                                      req_.version());
        common_headers(*res);
        res->set(http::field::content_type, head.content_type);
        for (const auto& [name, value] : head.headers)
            res->set(name, value);
        res->chunked(true);
        auto sr = std::make_unique<http::response_serializer<http::empty_body>>(*res);
        auto [ec, n] = co_await http::async_write_header(stream_, *sr, as_tuple(use_awaitable));
        co_return !ec;
    }

    asio::awaitable<bool> write_chunk(std::string data) override {
        auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk(asio::buffer(data)),
                                                  as_tuple(use_awaitable));
        co_return !ec;
    }

    // The terminating zero-length chunk, written as bytes (GCC 12 cannot keep Beast's chunk_last temporary in
    // a coroutine frame).
    asio::awaitable<bool> end_stream() override {
        static constexpr char last[] = "0\r\n\r\n";
        auto [ec, n] =
            co_await asio::async_write(stream_, asio::buffer(last, sizeof last - 1), as_tuple(use_awaitable));
        co_return !ec;
    }

    void on_client_gone(std::function<void()> gone) override {
        asio::co_spawn(stream_.get_executor(), watch(stream_, std::move(gone), stop_watching_.slot()),
                       asio::detached);
    }

private:
    // EOF or an error on the socket while a response is under way means the client went away.
    static asio::awaitable<void> watch(beast::tcp_stream& stream, std::function<void()> gone,
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

    beast::tcp_stream& stream_;
    const Request& req_;
    std::string request_id_;
    std::string_view path_;
    std::string job_id_;
    asio::cancellation_signal stop_watching_;
};

} // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    Impl(asio::any_io_executor ex, FacadeDeps deps, std::vector<std::string> keys)
        : executor(ex), context{std::move(deps), std::move(keys), {}, Clock::now(), {}}, acceptor(ex),
          connections_changed(ex) {
        context.open_connections = [this] { return connections.size(); };
    }

    asio::any_io_executor executor;
    FacadeContext context;
    tcp::acceptor acceptor;
    struct ConnectionInfo {
        std::weak_ptr<beast::tcp_stream> stream;
        bool busy = false; // a request is being handled
    };
    std::unordered_map<std::uint64_t, ConnectionInfo> connections;
    std::uint64_t next_connection = 1;
    bool stopping = false;
    daemon::AsyncSignal connections_changed;

    const config::FacadeSettings& settings() const { return context.settings(); }

    // What the route asks for. Auth is checked after the method: a wrong method is 405 for everyone.
    asio::awaitable<HttpResponse> dispatch(BeastExchange& x, const RouteMatch& m) {
        if (m.kind == RouteMatch::Kind::not_found)
            co_return error_response(protocol::OpenAIError{404, "invalid_request_error",
                                                           "Unknown request URL: " + std::string(x.method()) +
                                                               " " + std::string(x.path()),
                                                           std::nullopt, std::nullopt});
        if (m.kind == RouteMatch::Kind::method_not_allowed) {
            auto res = error_response(protocol::OpenAIError{
                405, "invalid_request_error",
                "Method " + std::string(x.method()) + " is not allowed for " + std::string(x.path()),
                std::nullopt, std::nullopt});
            res.set("Allow", m.allow);
            co_return res;
        }
        if (m.route->needs_auth)
            if (auto denied = authenticate(x.header("Authorization"), context.api_keys))
                co_return error_response(*denied);
        switch (m.route->endpoint) {
        case Endpoint::health:
            co_return health_endpoint(context);
        case Endpoint::metrics:
            co_return metrics_endpoint(context);
        case Endpoint::models:
            co_return models_endpoint(context);
        case Endpoint::model:
            co_return model_endpoint(context, m.parameter);
        case Endpoint::chat_completions: {
            HttpResponse res = co_await chat_completions_endpoint(context, x);
            co_return res;
        }
        }
        co_return error_response(
            protocol::OpenAIError{500, "server_error", "no handler", std::nullopt, std::nullopt});
    }

    // Answers one request; false when the connection must close.
    asio::awaitable<bool> handle(beast::tcp_stream& stream, const Request& req) {
        const auto started = Clock::now();
        std::string request_id(view(req["X-Request-Id"]));
        if (request_id.empty() || request_id.size() > 128) request_id = random_request_id();
        BeastExchange x(stream, req, std::move(request_id));
        const RouteMatch m = facade_routes().match(x.method(), x.path());
        HttpResponse res = co_await dispatch(x, m);
        bool keep = !res.close && req.keep_alive();
        if (!res.sent) keep = co_await x.respond(res) && !res.close;
        const std::string route = m.route ? m.route->pattern : "unknown";
        const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        context.metrics.request(route, res.status, seconds);
        // One access line per request; probes (/health, /metrics) at debug level.
        const bool probe =
            m.route && (m.route->endpoint == Endpoint::health || m.route->endpoint == Endpoint::metrics);
        context.deps.log->log(probe ? spdlog::level::debug : spdlog::level::info,
                              "HTTP {} {} {} {:.1f} ms request={} job={}", x.method(), x.path(), res.status,
                              seconds * 1000, x.request_id(), x.job_id().empty() ? "-" : x.job_id());
        co_return keep;
    }

    asio::awaitable<void> connection(tcp::socket socket) {
        auto self = shared_from_this();
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        const auto id = next_connection++;
        connections.emplace(id, ConnectionInfo{stream, false});
        beast::flat_buffer buffer;
        bool first = true;
        try { // an exception never crosses the connection boundary
            while (!stopping) {
                http::request_parser<http::string_body> parser;
                parser.body_limit(settings().max_body_bytes);
                parser.header_limit(16 * 1024);
                stream->expires_after(first ? ms(settings().header_timeout) : ms(settings().idle_timeout));
                auto [ec, n] =
                    co_await http::async_read_header(*stream, buffer, parser, as_tuple(use_awaitable));
                if (ec == http::error::body_limit) {
                    co_await reject(*stream, parser.get(), 413,
                                    "the request body is larger than facade.max_body_bytes");
                    break;
                }
                if (ec) {
                    if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                        ec != asio::error::eof && ec != asio::error::operation_aborted &&
                        ec != asio::error::connection_reset && buffer.size() > 0) {
                        std::string message = "malformed HTTP request: " + ec.message();
                        co_await reject(*stream, parser.get(), 400, std::move(message));
                    }
                    break;
                }
                first = false;
                if (!parser.is_done()) {
                    stream->expires_after(ms(settings().body_timeout));
                    auto [ec2, n2] =
                        co_await http::async_read(*stream, buffer, parser, as_tuple(use_awaitable));
                    if (ec2 == http::error::body_limit) {
                        co_await reject(*stream, parser.get(), 413,
                                        "the request body is larger than facade.max_body_bytes");
                        break;
                    }
                    if (ec2) break;
                }
                stream->expires_never();
                connections[id].busy = true;
                const bool keep = co_await handle(*stream, parser.get());
                connections[id].busy = false;
                if (!keep) break;
            }
        } catch (const std::exception& e) {
            context.deps.log->error("HTTP connection ended by an internal error: {}", e.what());
        }
        boost::system::error_code ignored;
        stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream->close();
        connections.erase(id);
        connections_changed.notify();
    }

    // Answers a request that will not be read to the end, then lingers briefly discarding what the client
    // still sends: closing with unread input would reset the connection and lose the answer.
    asio::awaitable<void> reject(beast::tcp_stream& stream, const Request& req, int status,
                                 std::string message) {
        BeastExchange x(stream, req, random_request_id());
        context.deps.log->info("HTTP rejected {}: {} request={}", status, message, x.request_id());
        HttpResponse res = error_response(protocol::OpenAIError{
            status, "invalid_request_error", std::move(message), std::nullopt, std::nullopt});
        res.close = true;
        stream.expires_after(std::chrono::seconds(5));
        co_await x.respond(res);
        context.metrics.request("rejected", status, 0);
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(std::chrono::seconds(2));
        std::array<char, 16384> sink;
        std::size_t drained = 0;
        while (drained < (64u << 20)) {
            auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
            if (ec) break;
            drained += n;
        }
    }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (!stopping) {
            auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
            if (ec == asio::error::operation_aborted || stopping) co_return;
            if (ec) {
                context.deps.log->warn("HTTP accept failed: {}", ec.message());
                asio::steady_timer t(executor, std::chrono::milliseconds(100));
                co_await t.async_wait(as_tuple(use_awaitable));
                continue;
            }
            if (connections.size() >= settings().max_connections) {
                boost::system::error_code ignored;
                socket.close(ignored);
                continue;
            }
            socket.set_option(tcp::no_delay(true));
            asio::co_spawn(executor, connection(std::move(socket)), asio::detached);
        }
    }
};

HttpServer::HttpServer(asio::any_io_executor executor, FacadeDeps deps, std::vector<std::string> api_keys)
    : impl_(std::make_shared<Impl>(executor, std::move(deps), std::move(api_keys))) {}

HttpServer::~HttpServer() = default;

std::optional<std::string> HttpServer::listen() {
    const auto& fs = impl_->settings();
    boost::system::error_code ec;
    const std::string host = fs.host == "localhost" ? "127.0.0.1" : fs.host;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return "facade.host: '" + fs.host + "' is not an IP address";
    tcp::endpoint ep(addr, fs.port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen on " + host + ":" + std::to_string(fs.port) + ": " + ec.message();
    return std::nullopt;
}

std::string HttpServer::endpoint() const {
    boost::system::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void HttpServer::start() {
    asio::co_spawn(impl_->executor, impl_->accept_loop(), asio::detached);
}

void HttpServer::stop() {
    impl_->stopping = true;
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    // Idle keep-alive connections close now; those with a turn in progress finish it (the turn itself is
    // stopped by the TurnService's shutdown) and close after their response.
    for (auto& [id, info] : impl_->connections)
        if (auto s = info.stream.lock(); s && !info.busy) s->expires_after(std::chrono::milliseconds(0));
}

asio::awaitable<void> HttpServer::wait_idle(Clock::time_point deadline) {
    while (!impl_->connections.empty() && Clock::now() < deadline)
        co_await impl_->connections_changed.wait_until(deadline);
    for (auto& [id, info] : impl_->connections)
        if (auto s = info.stream.lock()) s->close();
}

} // namespace ksid::facade
