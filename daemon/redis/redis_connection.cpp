#include "daemon/redis/redis_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace ksid::daemon {

namespace {
using tcp = asio::ip::tcp;
constexpr auto reconnect_interval = std::chrono::milliseconds(500);
constexpr auto connect_timeout = std::chrono::seconds(2);
constexpr std::size_t max_buffered_reply = 512u << 20; // Redis's own proto-max-bulk-len
} // namespace

asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec; // cancelled or expired: either way the pause is over
}

std::string redis_problem(const RespValue& reply) {
    if (reply.is_error()) return reply.text;
    return "unexpected reply " + protocol::resp_summary(reply);
}

RedisConnection::RedisConnection(asio::any_io_executor executor, protocol::RedisAddress address,
                                 std::string role, std::shared_ptr<spdlog::logger> log)
    : executor_(executor), address_(std::move(address)), role_(std::move(role)), log_(std::move(log)),
      socket_(executor), connect_done_(executor) {}

RedisConnection::~RedisConnection() {
    *alive_ = false;
    boost::system::error_code ignored;
    socket_.close(ignored);
}

void RedisConnection::close() {
    fail_all("closed");
}

void RedisConnection::fail_all(const std::string& why) {
    if (socket_.is_open()) {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }
    ready_ = false;
    ++generation_;
    outbox_.clear();
    writing_ = false; // the writer of the old connection stops at its next step
    if (!why.empty() && why != "closed") last_error_ = why;
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& p : pending) {
        p->failed = true;
        p->done = true;
        p->signal.notify();
    }
}

asio::awaitable<bool> RedisConnection::ensure_connected() {
    if (connected()) co_return true;
    if (connecting_) {
        while (connecting_)
            co_await connect_done_.wait();
        co_return connected();
    }
    const auto now = std::chrono::steady_clock::now();
    if (last_attempt_ != std::chrono::steady_clock::time_point{} && now - last_attempt_ < reconnect_interval)
        co_return false; // it failed a moment ago: fail fast instead of queueing behind a dead broker
    connecting_ = true;
    last_attempt_ = now;
    auto alive = alive_;
    std::string failure;
    {
        tcp::resolver resolver(executor_);
        auto [rec, endpoints] = co_await resolver.async_resolve(address_.host, std::to_string(address_.port),
                                                                asio::as_tuple(asio::use_awaitable));
        if (!*alive) co_return false;
        if (rec) {
            failure = "cannot resolve " + address_.host + ": " + rec.message();
        } else {
            tcp::socket socket(executor_);
            asio::steady_timer timer(executor_, connect_timeout);
            bool timed_out = false;
            timer.async_wait([&socket, &timed_out, alive](boost::system::error_code ec) {
                if (ec || !*alive) return;
                timed_out = true;
                boost::system::error_code ignored;
                socket.close(ignored);
            });
            auto [cec, ep] =
                co_await asio::async_connect(socket, endpoints, asio::as_tuple(asio::use_awaitable));
            timer.cancel();
            if (!*alive) co_return false;
            if (cec) {
                failure =
                    "cannot connect to " + address_.text() + ": " + (timed_out ? "timed out" : cec.message());
            } else {
                socket.set_option(tcp::no_delay(true));
                socket_ = std::move(socket);
                ++generation_;
                reader_ = protocol::RespReader();
                asio::co_spawn(executor_, read_loop(generation_), asio::detached);
                std::vector<RedisCommand> hello;
                if (!address_.password.empty()) {
                    if (address_.user.empty())
                        hello.push_back({"AUTH", address_.password});
                    else
                        hello.push_back({"AUTH", address_.user, address_.password});
                }
                if (address_.db != 0) hello.push_back({"SELECT", std::to_string(address_.db)});
                if (!hello.empty()) {
                    auto replies = co_await send(std::move(hello), std::chrono::seconds(3));
                    if (!*alive) co_return false;
                    if (!replies)
                        failure = "lost the connection to " + address_.text() + " while logging in";
                    else
                        for (const auto& r : *replies)
                            if (r.is_error() && failure.empty())
                                failure = address_.text() + " refused the login: " + r.text;
                    if (!failure.empty()) fail_all(failure);
                }
            }
        }
    }
    if (failure.empty()) {
        ready_ = true;
        last_error_.clear();
        logged_error_.clear();
        if (!was_up_) log_->info("Redis ({}): connected to {}", role_, address_.text());
        was_up_ = true;
    } else {
        if (was_up_ || logged_error_ != failure) log_->warn("Redis ({}): {}", role_, failure);
        logged_error_ = failure;
        last_error_ = failure;
        was_up_ = false;
    }
    connecting_ = false;
    connect_done_.notify();
    co_return ready_;
}

asio::awaitable<result<std::vector<RespValue>>> RedisConnection::send(std::vector<RedisCommand> commands,
                                                                      std::chrono::milliseconds timeout) {
    auto p = std::make_shared<Pending>(executor_);
    p->expected = commands.size();
    for (const auto& c : commands)
        outbox_ += protocol::resp_command(c);
    pending_.push_back(p);
    if (!writing_) {
        writing_ = true;
        asio::co_spawn(executor_, write_out(generation_), asio::detached);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto alive = alive_;
    while (!p->done && std::chrono::steady_clock::now() < deadline)
        co_await p->signal.wait_until(deadline);
    if (!*alive) co_return errc::broker_unavailable;
    if (!p->done) {
        // A pipelined connection with an overdue reply cannot be trusted: start again.
        log_->warn("Redis ({}): no reply from {} within {} ms; reconnecting", role_, address_.text(),
                   timeout.count());
        fail_all("no reply within " + std::to_string(timeout.count()) + " ms");
    }
    if (p->failed) co_return errc::broker_unavailable;
    co_return std::move(p->replies);
}

asio::awaitable<result<RespValue>> RedisConnection::command(RedisCommand args,
                                                            std::chrono::milliseconds timeout) {
    std::vector<RedisCommand> one;
    one.push_back(std::move(args));
    auto replies = co_await pipeline(std::move(one), timeout);
    if (!replies) co_return replies.error();
    co_return std::move(replies->front());
}

asio::awaitable<result<std::vector<RespValue>>> RedisConnection::pipeline(std::vector<RedisCommand> commands,
                                                                          std::chrono::milliseconds timeout) {
    auto alive = alive_;
    const bool up = co_await ensure_connected();
    if (!*alive || !up) co_return errc::broker_unavailable;
    if (commands.empty()) co_return std::vector<RespValue>{};
    co_return co_await send(std::move(commands), timeout);
}

asio::awaitable<void> RedisConnection::write_out(std::uint64_t generation) {
    auto alive = alive_;
    while (*alive && generation == generation_ && !outbox_.empty()) {
        std::string chunk = std::move(outbox_);
        outbox_.clear();
        auto [ec, n] =
            co_await asio::async_write(socket_, asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
        if (!*alive) co_return;
        if (generation != generation_) break;
        if (ec) {
            fail_all("write to " + address_.text() + " failed: " + ec.message());
            break;
        }
    }
    if (*alive && generation == generation_) writing_ = false;
}

asio::awaitable<void> RedisConnection::read_loop(std::uint64_t generation) {
    auto alive = alive_;
    std::vector<char> buffer(64 * 1024);
    for (;;) {
        auto [ec, n] =
            co_await socket_.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
        if (!*alive || generation != generation_) co_return;
        if (ec) {
            fail_all(ec == asio::error::eof ? address_.text() + " closed the connection"
                                            : "read from " + address_.text() + " failed: " + ec.message());
            co_return;
        }
        reader_.feed(std::string_view(buffer.data(), n));
        for (;;) {
            auto reply = reader_.next();
            if (!reply) {
                fail_all("protocol error from " + address_.text() + ": " + reply.error());
                co_return;
            }
            if (!*reply) break;
            if (pending_.empty()) {
                fail_all("a reply nobody asked for from " + address_.text());
                co_return;
            }
            auto& p = pending_.front();
            p->replies.push_back(std::move(**reply));
            if (p->replies.size() == p->expected) {
                p->done = true;
                p->signal.notify();
                pending_.pop_front();
            }
        }
        if (reader_.buffered() > max_buffered_reply) {
            fail_all("a reply of over 512 MiB from " + address_.text());
            co_return;
        }
    }
}

} // namespace ksid::daemon
