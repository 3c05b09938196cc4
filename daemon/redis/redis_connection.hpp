#pragma once
// One connection to Redis on the event loop: commands are pipelined (written as they come, replies matched
// in order), each with a timeout; a connection that breaks or stays silent past a timeout is closed and
// everything waiting on it fails with errc::broker_unavailable. The next command connects again (at most
// every reconnect_interval), so a Redis restart needs no daemon restart. Blocking reads (XREAD BLOCK) get a
// connection of their own, since they hold it until they return. RESP itself is protocol/resp.
#include "daemon/core/error.hpp"
#include "daemon/core/lifecycle.hpp"
#include "protocol/resp.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

using protocol::RespValue;
using RedisCommand = std::vector<std::string>;

class RedisConnection {
public:
    RedisConnection(asio::any_io_executor executor, protocol::RedisAddress address, std::string role,
                    std::shared_ptr<spdlog::logger> log);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // One command's reply (a Redis error reply is a value: check is_error()), or errc::broker_unavailable.
    asio::awaitable<result<RespValue>> command(RedisCommand args,
                                               std::chrono::milliseconds timeout = std::chrono::seconds(3));
    // Several commands in one write; their replies in order.
    asio::awaitable<result<std::vector<RespValue>>>
    pipeline(std::vector<RedisCommand> commands, std::chrono::milliseconds timeout = std::chrono::seconds(3));

    // Closes the connection; what waits fails. The next command reconnects.
    void close();
    bool connected() const { return socket_.is_open() && ready_; }
    // Why the last attempt or the connection failed ("" while it works), for error texts.
    const std::string& last_error() const { return last_error_; }
    const protocol::RedisAddress& address() const { return address_; }

private:
    struct Pending {
        explicit Pending(asio::any_io_executor ex) : signal(ex) {}
        std::size_t expected = 0;
        std::vector<RespValue> replies;
        bool done = false;
        bool failed = false;
        AsyncSignal signal;
    };

    asio::awaitable<bool> ensure_connected();
    asio::awaitable<result<std::vector<RespValue>>> send(std::vector<RedisCommand> commands,
                                                         std::chrono::milliseconds timeout);
    asio::awaitable<void> read_loop(std::uint64_t generation);
    asio::awaitable<void> write_out(std::uint64_t generation);
    void fail_all(const std::string& why);

    asio::any_io_executor executor_;
    protocol::RedisAddress address_;
    std::string role_;
    std::shared_ptr<spdlog::logger> log_;
    asio::ip::tcp::socket socket_;
    bool ready_ = false;      // connected, AUTH and SELECT done
    bool connecting_ = false; // one attempt at a time; the others wait for it
    AsyncSignal connect_done_;
    std::uint64_t generation_ = 0; // bumped per connection, so an old loop never touches a new socket
    std::chrono::steady_clock::time_point last_attempt_{};
    std::string last_error_;
    std::string logged_error_; // the failure last logged: an outage is logged once, not per attempt
    bool was_up_ = false;      // for one log line per outage, not one per command
    std::deque<std::shared_ptr<Pending>> pending_;
    std::string outbox_;
    bool writing_ = false;
    protocol::RespReader reader_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Waits `d` on the current executor (the broker's retry and polling pauses).
asio::awaitable<void> pause_for(std::chrono::milliseconds d);

// The text of an error reply, or of a reply of an unexpected type, for logs.
std::string redis_problem(const RespValue& reply);

} // namespace ksid::daemon
