#include "facade/http_server.hpp"

#include "daemon/core/lifecycle.hpp"
#include "facade/auth.hpp"
#include "facade/beast_exchange.hpp"
#include "facade/admin_endpoints.hpp"
#include "facade/chat_completions.hpp"
#include "facade/dashboard.hpp"
#include "facade/endpoints.hpp"
#include "facade/http_errors.hpp"
#include "facade/http_reader.hpp"
#include "facade/messages.hpp"
#include "facade/routes.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <random>
#include <unordered_map>

namespace ksid::facade {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string random_request_id() {
    static std::mt19937_64 rng{std::random_device{}()};
    char buf[40];
    std::snprintf(buf, sizeof buf, "req_%016llx", static_cast<unsigned long long>(rng()));
    return buf;
}

// An error response's message for the access line, at most 300 bytes (it may quote the client: the log's
// formatter escapes control characters, so it cannot forge a line).
std::string log_reason(const std::string& reason) {
    if (reason.empty()) return {};
    return " (" + reason.substr(0, 300) + ")";
}

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
        bool busy = false;    // a request is being handled
        bool evicted = false; // closed by make_room(), not yet gone
    };
    std::unordered_map<std::uint64_t, ConnectionInfo> connections;
    std::uint64_t next_connection = 1;
    bool stopping = false;
    bool eviction_logged = false; // make_room() logs once until the connections fall to half the cap
    daemon::AsyncSignal connections_changed;

    const config::FacadeSettings& settings() const { return context.settings(); }
    std::chrono::milliseconds write_timeout() const { return config::to_ms(settings().write_timeout); }

    // What the route asks for. Auth is checked after the method: a wrong method is 405 for everyone.
    asio::awaitable<HttpResponse> dispatch(BeastExchange& x, const RouteMatch& m) {
        const ApiDialect dialect = dialect_of(m.route, x.header("anthropic-version"));
        if (m.kind == RouteMatch::Kind::not_found)
            co_return error_response(protocol::OpenAIError{404, "invalid_request_error",
                                                           "Unknown request URL: " + std::string(x.method()) +
                                                               " " + std::string(x.path()),
                                                           std::nullopt, std::nullopt},
                                     dialect);
        if (m.kind == RouteMatch::Kind::method_not_allowed) {
            auto res =
                error_response(protocol::OpenAIError{405, "invalid_request_error",
                                                     "Method " + std::string(x.method()) +
                                                         " is not allowed for " + std::string(x.path()),
                                                     std::nullopt, std::nullopt},
                               dialect);
            res.set("Allow", m.allow);
            co_return res;
        }
        if (m.route->endpoint == Endpoint::dashboard)
            if (auto signed_in = dashboard_sign_in(context, x)) co_return std::move(*signed_in);
        if (m.route->needs_auth) {
            Caller caller;
            if (auto denied = identify(context.deps.usage, context.api_keys, credentials(x, *m.route), caller))
                co_return error_response(*denied, dialect);
            x.set_tenant(caller.tenant);
        }
        switch (m.route->endpoint) {
        case Endpoint::health:
            co_return health_endpoint(context);
        case Endpoint::metrics:
            co_return metrics_endpoint(context);
        case Endpoint::models:
            co_return models_endpoint(context, dialect);
        case Endpoint::model:
            co_return model_endpoint(context, m.parameter, dialect);
        case Endpoint::chat_completions: {
            HttpResponse res = co_await chat_completions_endpoint(context, x);
            co_return res;
        }
        case Endpoint::messages: {
            HttpResponse res = co_await messages_endpoint(context, x);
            co_return res;
        }
        case Endpoint::count_tokens:
            co_return count_tokens_endpoint(context, x);
        case Endpoint::usage: {
            HttpResponse res = co_await usage_endpoint(context, x);
            co_return res;
        }
        case Endpoint::quota:
            co_return quota_endpoint(context);
        case Endpoint::admin_keys:
            co_return admin_keys_endpoint(context, x);
        case Endpoint::admin_key:
            co_return admin_key_endpoint(context, x, m.parameter);
        case Endpoint::admin_usage: {
            HttpResponse res = co_await admin_usage_endpoint(context, x);
            co_return res;
        }
        case Endpoint::admin_state:
            co_return admin_state_endpoint(context);
        case Endpoint::admin_events: {
            HttpResponse res = co_await admin_events_endpoint(context, x);
            co_return res;
        }
        case Endpoint::admin_turn:
            co_return admin_turn_endpoint(context, m.parameter);
        case Endpoint::dashboard:
            co_return dashboard_endpoint(context);
        }
        co_return error_response(
            protocol::OpenAIError{500, "server_error", "no handler", std::nullopt, std::nullopt}, dialect);
    }

    // Answers one request; false when the connection must close.
    asio::awaitable<bool> handle(beast::tcp_stream& stream, const HttpRequest& req) {
        const auto started = Clock::now();
        std::string request_id(as_view(req["X-Request-Id"]));
        if (request_id.empty() || request_id.size() > 128) request_id = random_request_id();
        BeastExchange x(stream, req, std::move(request_id), write_timeout());
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
                              "HTTP {} {} {} {:.1f} ms request={} job={}{}", x.method(), x.path(), res.status,
                              seconds * 1000, x.request_id(), x.job_id().empty() ? "-" : x.job_id(),
                              log_reason(res.reason));
        co_return keep;
    }

    static PresentedCredentials credentials(const HttpExchange& x, const Route& route) {
        PresentedCredentials p;
        p.authorization = x.header("Authorization");
        p.x_api_key = x.header("x-api-key");
        p.cookie = x.header("Cookie");
        p.dashboard_header = x.header("X-Ksid-Dashboard");
        p.method = x.method();
        p.admin_route = route.admin;
        return p;
    }

    // Auth before the body: a client without a valid key cannot make ksid buffer a body (up to
    // facade.max_body_bytes per connection). Other answers wait for the body, as they always did.
    std::optional<protocol::OpenAIError> denied_before_body(const HttpRequest& req) const {
        const RouteMatch m = facade_routes().match(as_view(req.method_string()), request_path(req));
        if (m.kind != RouteMatch::Kind::found || !m.route->needs_auth) return std::nullopt;
        PresentedCredentials p;
        p.authorization = as_view(req[http::field::authorization]);
        p.x_api_key = as_view(req["x-api-key"]);
        p.cookie = as_view(req[http::field::cookie]);
        p.dashboard_header = as_view(req["X-Ksid-Dashboard"]);
        p.method = as_view(req.method_string());
        p.admin_route = m.route->admin;
        Caller caller;
        return identify(context.deps.usage, context.api_keys, p, caller);
    }

    asio::awaitable<void> connection(tcp::socket socket) {
        auto self = shared_from_this();
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        const auto id = next_connection++;
        connections.emplace(id, ConnectionInfo{stream, false});
        HttpRequestReader reader(*stream, settings());
        bool first = true;
        try {                            // an exception never crosses the connection boundary
            while (first || !stopping) { // the first request is read even if stop() came meanwhile
                ReadStep step = co_await reader.read_header(first);
                first = false;
                std::optional<protocol::OpenAIError> refusal;
                if (step.kind == ReadStep::Kind::ready && !reader.complete())
                    refusal = denied_before_body(reader.request());
                if (step.kind == ReadStep::Kind::ready && !refusal) step = co_await reader.read_body();
                if (step.kind == ReadStep::Kind::refused)
                    refusal = protocol::OpenAIError{step.status, "invalid_request_error",
                                                    std::move(step.reason), std::nullopt, std::nullopt};
                // A request not read to its end is answered, then the connection closes: what follows
                // cannot be told apart from a next request.
                if (refusal) {
                    co_await reject(*stream, reader.request(), std::move(*refusal));
                    break;
                }
                if (step.kind == ReadStep::Kind::ended) break;
                connections[id].busy = true;
                const bool keep = co_await handle(*stream, reader.request());
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
        if (connections.size() < settings().max_connections / 2) eviction_logged = false;
        connections_changed.notify();
    }

    // Answers a request that will not be read to the end and closes the connection, lingering first so
    // that the close does not reset it and lose the answer.
    asio::awaitable<void> reject(beast::tcp_stream& stream, const HttpRequest& req,
                                 protocol::OpenAIError error) {
        BeastExchange x(stream, req, random_request_id(), write_timeout());
        context.deps.log->info("HTTP rejected {}: {} request={}", error.status, error.message,
                               x.request_id());
        const RouteMatch m = facade_routes().match(as_view(req.method_string()), request_path(req));
        HttpResponse res = error_response(error, dialect_of(m.route, as_view(req["anthropic-version"])));
        res.close = true;
        co_await x.respond(res);
        context.metrics.request("rejected", error.status, 0);
        co_await discard_input_before_close(stream);
    }

    // At facade.max_connections: closes the oldest connection that is not handling a request (idle
    // keep-alive, or not done sending one), so that idle connections cannot lock out /health and new
    // clients. False when every connection is busy.
    bool make_room() {
        std::uint64_t oldest = 0;
        for (const auto& [id, info] : connections)
            if (!info.busy && !info.evicted && (oldest == 0 || id < oldest)) oldest = id;
        if (oldest == 0) return false;
        auto& info = connections[oldest];
        info.evicted = true;
        if (!eviction_logged)
            context.deps.log->warn(
                "{} HTTP connections are open (facade.max_connections): closing the oldest idle "
                "ones to make room for new ones",
                connections.size());
        eviction_logged = true;
        if (auto s = info.stream.lock()) s->close();
        return true;
    }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (!stopping) {
            auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
            // Accepted just before stop() (RELOAD_DAEMON's hand-over, shutdown): still served, one request.
            if (ec == asio::error::operation_aborted || (ec && stopping)) co_return;
            if (ec) {
                context.deps.log->warn("HTTP accept failed: {}", ec.message());
                asio::steady_timer t(executor, std::chrono::milliseconds(100));
                co_await t.async_wait(as_tuple(use_awaitable));
                continue;
            }
            if (connections.size() >= settings().max_connections && !make_room()) {
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

void HttpServer::set_api_keys(std::vector<std::string> api_keys) {
    impl_->context.api_keys = std::move(api_keys);
}

std::optional<std::string> HttpServer::listen(int passed_fd) {
    const auto& fs = impl_->settings();
    boost::system::error_code ec;
    const std::string host = facade_bind_host(fs.host);
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return "facade.host: '" + fs.host + "' is not an IP address";
    tcp::endpoint ep(addr, fs.port);
    if (passed_fd >= 0) { // socket activation: already bound and listening (app/socket_activation)
        impl_->acceptor.assign(ep.protocol(), passed_fd, ec);
        if (ec) return "cannot use the passed socket (fd " + std::to_string(passed_fd) + "): " + ec.message();
        return std::nullopt;
    }
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

int HttpServer::listener_fd() {
    return impl_->acceptor.is_open() ? impl_->acceptor.native_handle() : -1;
}

void HttpServer::stop() {
    impl_->stopping = true;
    impl_->context.stopping = true;
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
