#include "daemon/legacy/socket_server.hpp"

#include "daemon/core/lifecycle.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>

namespace ksid::daemon {

using asio::as_tuple;
using asio::use_awaitable;

SocketServer::SocketServer(asio::any_io_executor executor, ConnectionSettings settings,
                           std::size_t max_connections, std::chrono::milliseconds first_line_timeout,
                           CommandRouter& router, Lifecycle& lifecycle, std::shared_ptr<spdlog::logger> log)
    : acceptor_(executor), settings_(settings), max_connections_(max_connections), router_(router),
      lifecycle_(lifecycle), log_(std::move(log)), first_line_timeout_(first_line_timeout),
      sweeper_wakeup_(std::make_unique<AsyncSignal>(executor)) {}

std::optional<std::string> SocketServer::listen(const std::string& socket_path, unsigned mode) {
    boost::system::error_code ec;
    acceptor_.open(asio::local::stream_protocol(), ec);
    if (ec) return "cannot create the socket: " + ec.message();
    // Bind under a strict umask so the socket is never reachable with looser permissions, then set the mode.
    const mode_t old_mask = ::umask(0177);
    acceptor_.bind(asio::local::stream_protocol::endpoint(socket_path), ec);
    ::umask(old_mask);
    if (ec) return "cannot bind " + socket_path + ": " + ec.message();
    if (::chmod(socket_path.c_str(), mode) != 0) return "cannot set the mode of " + socket_path;
    acceptor_.listen(100, ec);
    if (ec) return "cannot listen on " + socket_path + ": " + ec.message();
    return std::nullopt;
}

std::optional<std::string> SocketServer::adopt(int listening_fd) {
    boost::system::error_code ec;
    acceptor_.assign(asio::local::stream_protocol(), listening_fd, ec);
    if (ec) return "cannot use the passed socket (fd " + std::to_string(listening_fd) + "): " + ec.message();
    return std::nullopt;
}

asio::awaitable<void> SocketServer::accept_loop() {
    // A connection accepted just before the acceptor was paused or closed (RELOAD_DAEMON, shutdown) is still
    // served: its client connected and gets an answer (dropping it was an EOF without a reply).
    while (!paused_ && acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
        if (ec == asio::error::operation_aborted || (ec && !acceptor_.is_open())) co_return;
        if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            log_->error("accept failed: {}", ec.message());
            asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await t.async_wait(as_tuple(use_awaitable));
            continue;
        }
        if (connections_.size() >= max_connections_ && !make_room()) {
            log_->warn("Refusing a connection: {} connections are open (daemon.max_connections)",
                       connections_.size());
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        const auto id = next_id_++;
        auto connection =
            std::make_shared<Connection>(std::move(socket), id, settings_, router_, lifecycle_, log_);
        connections_.emplace(id, connection);
        asio::co_spawn(acceptor_.get_executor(), serve(std::move(connection)), asio::detached);
    }
}

bool SocketServer::make_room() {
    // At the cap, the connection that has waited longest without sending a line goes, so that idle
    // connections cannot lock out a client that has something to say (a HEALTH_CHECK, a SPAWN). Clients
    // send their line right after connecting; agents' persistent connections are never chosen.
    std::shared_ptr<Connection> oldest;
    for (auto& [id, weak] : connections_) {
        auto c = weak.lock();
        if (c && !c->closed() && !c->first_line_done() &&
            (!oldest || c->accepted_at() < oldest->accepted_at()))
            oldest = std::move(c);
    }
    if (!oldest) return false;
    if (!evicting_logged_)
        log_->warn(
            "{} connections are open (daemon.max_connections): closing the oldest ones that sent nothing "
            "to make room for new ones",
            connections_.size());
    evicting_logged_ = true;
    oldest->close();
    return true;
}

asio::awaitable<void> SocketServer::serve(std::shared_ptr<Connection> connection) {
    const auto id = connection->id();
    try {
        co_await connection->run();
    } catch (const std::exception& e) {
        log_->error("Connection {} ended by an internal error: {}", id, e.what());
    }
    connection->close();
    if (on_closed_) on_closed_(*connection);
    connections_.erase(id);
    if (connections_.size() < max_connections_ / 2) evicting_logged_ = false;
    if (connections_changed_) connections_changed_->notify();
}

asio::awaitable<void> SocketServer::first_line_sweeper() {
    using clock = asio::steady_timer::clock_type;
    const auto interval = std::clamp<std::chrono::milliseconds>(
        first_line_timeout_ / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    // A steady tick (at most once a second) rather than sleeping while no connection is open: waking on
    // every first connection would re-arm the timer once per request under one-shot load.
    while (acceptor_.is_open()) {
        co_await sweeper_wakeup_->wait_until(clock::now() + interval);
        const auto cutoff = clock::now() - first_line_timeout_;
        for (auto& [id, weak] : connections_) {
            auto c = weak.lock();
            if (c && !c->first_line_done() && c->accepted_at() <= cutoff) {
                log_->debug("Connection {}: no request line within {} ms; closing", id,
                            first_line_timeout_.count());
                c->close();
            }
        }
    }
}

void SocketServer::pause_accepting() {
    paused_ = true;
    boost::system::error_code ignored;
    acceptor_.cancel(ignored); // the accept loop ends; the socket stays open and listening
}

void SocketServer::resume_accepting() {
    if (!paused_ || !acceptor_.is_open()) return;
    paused_ = false;
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
}

std::vector<std::shared_ptr<Connection>> SocketServer::persistent_connections() const {
    std::vector<std::shared_ptr<Connection>> out;
    for (const auto& [id, weak] : connections_)
        if (auto c = weak.lock(); c && c->persistent() && !c->closed()) out.push_back(std::move(c));
    return out;
}

std::shared_ptr<Connection> SocketServer::adopt_connection(int fd, std::string_view unread,
                                                           std::string unsent) {
    Connection::Socket socket(acceptor_.get_executor());
    boost::system::error_code ec;
    socket.assign(asio::local::stream_protocol(), fd, ec);
    if (ec) {
        ::close(fd);
        return nullptr;
    }
    const auto id = next_id_++;
    auto connection =
        std::make_shared<Connection>(std::move(socket), id, settings_, router_, lifecycle_, log_);
    connection->adopt_handover(unread, std::move(unsent));
    connections_.emplace(id, connection);
    asio::co_spawn(acceptor_.get_executor(), serve(connection), asio::detached);
    return connection;
}

void SocketServer::stop_accepting() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    sweeper_wakeup_->notify();
}

void SocketServer::close_idle_connections() {
    for (auto& [id, weak] : connections_)
        if (auto c = weak.lock()) c->close_when_idle();
}

void SocketServer::close_all_connections() {
    for (auto& [id, weak] : connections_)
        if (auto c = weak.lock()) c->close();
}

asio::awaitable<void> SocketServer::wait_until_no_connections(asio::steady_timer::time_point deadline) {
    if (!connections_changed_) connections_changed_ = std::make_unique<AsyncSignal>(acceptor_.get_executor());
    while (!connections_.empty() && asio::steady_timer::clock_type::now() < deadline)
        co_await connections_changed_->wait_until(deadline);
}

} // namespace ksid::daemon
