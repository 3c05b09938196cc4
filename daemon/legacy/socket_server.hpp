#pragma once
// The legacy Unix-socket listener: binds with the configured mode, accepts connections up to a limit,
// runs each as a Connection, and on shutdown stops accepting and closes connections as they go idle.
#include "daemon/legacy/connection.hpp"

#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace ksid::daemon {

class SocketServer {
public:
    SocketServer(asio::any_io_executor executor, ConnectionSettings settings, std::size_t max_connections,
                 std::chrono::milliseconds first_line_timeout, CommandRouter& router, Lifecycle& lifecycle,
                 std::shared_ptr<spdlog::logger> log);

    // Binds and listens (backlog 100, as the legacy daemon). Returns an error text on failure.
    std::optional<std::string> listen(const std::string& socket_path, unsigned mode);
    // Socket activation: serves a listening socket the service manager bound (its path, mode and backlog
    // are the unit's). Returns an error text on failure.
    std::optional<std::string> adopt(int listening_fd);

    asio::awaitable<void> accept_loop();
    // Closes connections that send no complete first line in time: one periodic sweep over the open
    // connections instead of a timer per connection (cheaper per connection, and no state that outlives it).
    asio::awaitable<void> first_line_sweeper();

    void stop_accepting();
    // RELOAD_DAEMON. The listening socket's descriptor (the new daemon inherits it); pausing leaves it
    // open (connections wait in its backlog), resuming serves it here again (a rollback).
    int listener_fd() { return acceptor_.native_handle(); }
    void pause_accepting();
    void resume_accepting();
    // The persistent connections, for handing over.
    std::vector<std::shared_ptr<Connection>> persistent_connections() const;
    // A connection the old daemon handed over: served here from now on (nullptr if `fd` is unusable).
    std::shared_ptr<Connection> adopt_connection(int fd, std::string_view unread, std::string unsent);
    void close_idle_connections(); // shutdown: idle connections close now, busy ones after their reply
    void close_all_connections();
    std::size_t connection_count() const { return connections_.size(); }
    // SIGHUP: limits for connections accepted from now on.
    void set_limits(ConnectionSettings settings, std::size_t max_connections,
                    std::chrono::milliseconds first_line_timeout) {
        settings_ = settings;
        max_connections_ = max_connections;
        first_line_timeout_ = first_line_timeout;
    }

    // Called when a connection has ended (the message bus forgets its agent).
    void on_connection_closed(std::function<void(Connection&)> hook) { on_closed_ = std::move(hook); }

    // Wakes whoever waits for the connection count to drop (shutdown).
    asio::awaitable<void> wait_until_no_connections(asio::steady_timer::time_point deadline);

private:
    asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
    // At max_connections: closes the oldest connection that has sent no line yet; false if there is none.
    bool make_room();

    asio::local::stream_protocol::acceptor acceptor_;
    ConnectionSettings settings_;
    std::size_t max_connections_;
    CommandRouter& router_;
    Lifecycle& lifecycle_;
    std::shared_ptr<spdlog::logger> log_;
    std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections_;
    std::uint64_t next_id_ = 1;
    std::unique_ptr<AsyncSignal> connections_changed_;
    std::function<void(Connection&)> on_closed_;
    std::chrono::milliseconds first_line_timeout_;
    std::unique_ptr<AsyncSignal> sweeper_wakeup_;
    bool evicting_logged_ = false; // make_room() logs once until the connections fall to half the cap
    bool paused_ = false;
};

} // namespace ksid::daemon
