#include "daemon/legacy/connection.hpp"

#include "daemon/core/lifecycle.hpp"
#include "protocol/legacy_reply.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <cstring>
#include <fcntl.h>
#include <span>

namespace ksid::daemon {

using asio::as_tuple;
using asio::use_awaitable;

Connection::~Connection() = default;

Connection::Connection(Socket socket, std::uint64_t id, const ConnectionSettings& settings,
                       CommandRouter& router, Lifecycle& lifecycle, std::shared_ptr<spdlog::logger> log)
    : socket_(std::move(socket)), id_(id), settings_(settings), router_(router), lifecycle_(lifecycle),
      log_(std::move(log)), framer_(settings.max_line_bytes) {}

void Connection::close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    outbox_.clear();
    outbox_.shrink_to_fit();
    outbox_head_ = head_written_ = outbox_bytes_ = 0;
    if (drained_) drained_->notify();
}

std::optional<Connection::Handover> Connection::hand_over() {
    if (!can_hand_over()) return std::nullopt;
    Handover h;
    h.fd = ::fcntl(socket_.native_handle(), F_DUPFD_CLOEXEC, 3);
    if (h.fd < 0) return std::nullopt;
    h.unread = std::string(framer_.pending());
    for (std::size_t i = outbox_head_; i < outbox_.size(); ++i)
        h.unsent.append(i == outbox_head_ ? std::string_view(*outbox_[i]).substr(head_written_)
                                          : std::string_view(*outbox_[i]));
    handed_over_ = true;
    close(); // this daemon's descriptor only: the peer keeps the connection, now the new daemon's
    return h;
}

void Connection::adopt_handover(std::string_view unread, std::string unsent) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
    adopted_ = true;
    persistent_ = true;
    first_line_done_ = true;
    if (!unread.empty()) {
        auto space = framer_.prepare(unread.size());
        std::memcpy(space.data(), unread.data(), unread.size());
        framer_.commit(unread.size());
    }
    if (!unsent.empty()) send(std::make_shared<const std::string>(std::move(unsent)));
}

void Connection::close_when_idle() {
    close_requested_ = true;
    if (!busy_ && !writing_) close();
}

asio::awaitable<Connection::ReadOutcome> Connection::read_line() {
    // Asio's reactor is edge-triggered: once readiness is reported, read until EAGAIN before waiting
    // again (maybe_readable_ tracks that). The buffer is allocated only for a read and released while
    // the connection waits, so a silent connection holds none.
    constexpr std::size_t read_chunk = 16 * 1024;
    for (;;) {
        const auto event = framer_.next();
        if (event.status == protocol::LineFramer::Status::line)
            co_return ReadOutcome{ReadStatus::line, event.line};
        if (event.status == protocol::LineFramer::Status::too_long)
            co_return ReadOutcome{ReadStatus::too_long, {}};
        if (!maybe_readable_) {
            if (framer_.buffered() == 0) framer_.release_memory();
            auto [wait_ec] = co_await socket_.async_wait(Socket::wait_read, as_tuple(use_awaitable));
            if (wait_ec || closed_) co_return ReadOutcome{ReadStatus::error, {}};
            maybe_readable_ = true;
        }
        boost::system::error_code ec;
        auto space = framer_.prepare(read_chunk);
        const std::size_t n = socket_.read_some(asio::buffer(space.data(), space.size()), ec);
        framer_.commit(n);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            maybe_readable_ = false;
            continue;
        }
        if (ec == asio::error::eof) {
            if (auto rest = framer_.finish()) co_return ReadOutcome{ReadStatus::line, *rest};
            co_return ReadOutcome{framer_.buffered() ? ReadStatus::too_long : ReadStatus::eof, {}};
        }
        if (ec) co_return ReadOutcome{ReadStatus::error, {}};
    }
}

bool Connection::enqueue(std::shared_ptr<const std::string> line) {
    if (closed_) return false;
    outbox_bytes_ += line->size();
    if (outbox_bytes_ > settings_.max_outbox_bytes) {
        log_->warn("Connection {}: peer is not reading ({} bytes waiting); dropping the connection", id_,
                   outbox_bytes_);
        close();
        return false;
    }
    outbox_.push_back(std::move(line));
    return true;
}

bool Connection::send(std::shared_ptr<const std::string> line) {
    if (!enqueue(std::move(line))) return false;
    flush_now();
    return !closed_;
}

bool Connection::deliver(std::shared_ptr<const std::string> line) {
    if (!enqueue(std::move(line))) return false;
    if (!flush_scheduled_ && !writing_) {
        flush_scheduled_ = true;
        asio::post(socket_.get_executor(), [self = shared_from_this()] {
            self->flush_scheduled_ = false;
            self->flush_now();
        });
    }
    return true;
}

// Writes what waits without blocking, coalesced into one gather write; what the socket does not take is
// left to the asynchronous writer.
void Connection::flush_now() {
    if (closed_ || writing_ || outbox_head_ == outbox_.size()) return;
    std::array<asio::const_buffer, 64> buffers;
    std::size_t count = 0;
    for (std::size_t i = outbox_head_; i < outbox_.size() && count < buffers.size(); ++i, ++count) {
        const auto& l = *outbox_[i];
        const std::size_t skip = i == outbox_head_ ? head_written_ : 0;
        buffers[count] = asio::const_buffer(l.data() + skip, l.size() - skip);
    }
    boost::system::error_code ec;
    std::size_t n = socket_.write_some(std::span(buffers.data(), count), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        log_->debug("Connection {}: write failed: {}", id_, ec.message());
        close();
        return;
    }
    advance_outbox(n);
    if (outbox_head_ == outbox_.size()) {
        outbox_.clear();
        outbox_head_ = 0;
        if (outbox_.capacity() > 16) outbox_.shrink_to_fit();
        return;
    }
    writing_ = true;
    asio::co_spawn(
        socket_.get_executor(), [self = shared_from_this()] { return self->drain_outbox(); }, asio::detached);
}

void Connection::advance_outbox(std::size_t written) {
    outbox_bytes_ -= written;
    while (written > 0) {
        const std::size_t left = outbox_[outbox_head_]->size() - head_written_;
        if (written < left) {
            head_written_ += written;
            return;
        }
        written -= left;
        ++outbox_head_;
        head_written_ = 0;
    }
}

asio::awaitable<std::size_t> Connection::write_some_in_time(std::span<const asio::const_buffer> buffers) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer deadline(socket_.get_executor(), settings_.write_timeout);
    auto write = socket_.async_write_some(buffers, as_tuple(use_awaitable));
    auto expiry = deadline.async_wait(as_tuple(use_awaitable));
    auto race = std::move(write) || std::move(expiry);
    const auto first = co_await std::move(race);
    if (first.index() == 1) {
        log_->warn("Connection {}: the peer read nothing for {} ms; dropping the connection", id_,
                   settings_.write_timeout.count());
        close(); // frees what waited for it
        co_return 0;
    }
    const auto [ec, n] = std::get<0>(first);
    if (ec || closed_) {
        if (ec) log_->debug("Connection {}: write failed: {}", id_, ec.message());
        close();
        co_return 0;
    }
    co_return n;
}

asio::awaitable<void> Connection::drain_outbox() {
    // Coalesces whatever waits into one gather write.
    std::vector<asio::const_buffer> buffers;
    while (outbox_head_ < outbox_.size() && !closed_) {
        buffers.clear();
        for (std::size_t i = outbox_head_; i < outbox_.size() && buffers.size() < 64; ++i) {
            const auto& l = *outbox_[i];
            const std::size_t skip = i == outbox_head_ ? head_written_ : 0;
            buffers.emplace_back(l.data() + skip, l.size() - skip);
        }
        const std::size_t n = co_await write_some_in_time(buffers);
        if (n == 0) break; // closed
        advance_outbox(n);
    }
    if (outbox_head_ == outbox_.size()) {
        outbox_.clear();
        outbox_.shrink_to_fit();
        outbox_head_ = 0;
    }
    writing_ = false;
    if (drained_) drained_->notify();
    if (close_requested_ && !busy_) close();
}

asio::awaitable<void> Connection::write_now(std::shared_ptr<const std::string> line) {
    if (persistent_) { // keep order with bus events queued for this connection
        send(std::move(line));
        co_return;
    }
    if (closed_) co_return;
    // Most replies fit in the socket buffer at once; only the rest waits, for a peer that reads.
    boost::system::error_code ec;
    std::size_t written = socket_.write_some(asio::buffer(*line), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        log_->debug("Connection {}: reply not delivered: {}", id_, ec.message());
        co_return;
    }
    while (written < line->size() && !closed_) {
        const std::array<asio::const_buffer, 1> rest{asio::buffer(*line) + written};
        const std::size_t n = co_await write_some_in_time(rest);
        if (n == 0) co_return; // closed
        written += n;
    }
}

asio::awaitable<void> Connection::wait_outbox_drained() {
    if (!drained_) drained_ = std::make_unique<AsyncSignal>(socket_.get_executor());
    while (writing_ && !closed_)
        co_await drained_->wait();
}

asio::awaitable<bool> Connection::handle_line(std::string_view raw_line, bool first) {
    auto decoded = protocol::decode_legacy_line(raw_line, first ? protocol::LinePosition::first
                                                                : protocol::LinePosition::follow_up);
    if (first) persistent_ = decoded.makes_persistent;

    using Kind = protocol::DecodedLine::Kind;
    switch (decoded.kind) {
    case Kind::close:
        co_return false;
    case Kind::ignore:
        co_return true;
    case Kind::text_health_probe:
        co_await write_now(std::make_shared<const std::string>("HEALTHY\n"));
        co_return false;
    case Kind::error_reply: {
        log_invalid_line(decoded.error_code, decoded.error_message);
        std::optional<std::string> ts;
        if (decoded.error_has_timestamp) ts = protocol::legacy_timestamp_now();
        co_await write_now(std::make_shared<const std::string>(
            protocol::encode_error_reply(decoded.error_code, decoded.error_message, ts)));
        co_return persistent_;
    }
    case Kind::request:
        break;
    }

    busy_ = true;
    RequestContext ctx{id_, persistent_, first, this};
    CommandOutcome outcome = co_await router_.dispatch(decoded.request, ctx);
    busy_ = false;
    std::string reply;
    if (auto* result = std::get_if<boost::json::object>(&outcome.body)) {
        reply = protocol::encode_success_reply(decoded.request.command, *result);
    } else {
        const auto& err = std::get<CommandError>(outcome.body);
        log_failed_request(decoded.request.command, err);
        reply = protocol::encode_error_reply(err.code, err.message, protocol::legacy_timestamp_now());
    }
    co_await write_now(std::make_shared<const std::string>(std::move(reply)));
    if (outcome.after_reply) outcome.after_reply();
    if (outcome.after == AfterReply::shutdown_daemon) {
        if (persistent_) { // let the reply drain before the close below
            co_await wait_outbox_drained();
        }
        close();
        lifecycle_.request_shutdown("SHUTDOWN command");
        co_return false;
    }
    if (outcome.after == AfterReply::close_connection || close_requested_) co_return false;
    co_return persistent_;
}

// The legacy daemon logged a first line that is not JSON in these words, and nothing for the other
// malformed lines; ksid logs those too (the issue of sparse logs), with the connection id.
void Connection::log_invalid_line(std::string_view code, std::string_view message) {
    constexpr std::string_view json_prefix = "All commands must be valid JSON: ";
    if (code == "INVALID_JSON" && message.starts_with(json_prefix))
        log_->warn("Invalid JSON received: {} (connection {})", message.substr(json_prefix.size()), id_);
    else
        log_->warn("Invalid request on connection {}: {}: {}", id_, code, message);
}

// Requests a client got wrong (INVALID_*, UNKNOWN_COMMAND) at WARNING; a handler's failure in the
// legacy daemon's words at ERROR; expected answers such as IDENTITY_NOT_FOUND are not logged, as legacy.
void Connection::log_failed_request(std::string_view command, const CommandError& err) {
    if (err.code.starts_with("INVALID_") || err.code == "UNKNOWN_COMMAND")
        log_->warn("Invalid request on connection {}: {}: {}: {}", id_, command, err.code, err.message);
    else if (err.code == "COMMAND_PROCESSING_FAILED")
        log_->error("Error processing command: {} ({} on connection {})", err.message, command, id_);
}

// The legacy daemon closed on an over-long line without a reply, cleanly. Closing with unread input would
// reset the connection instead, so the sending side is shut down (the peer reads EOF) and what the peer
// still sends is discarded, briefly and up to a bound, before the close.
asio::awaitable<void> Connection::refuse_over_long_line() {
    log_->warn("Connection {}: request line over {} bytes; closing", id_, settings_.max_line_bytes);
    using namespace asio::experimental::awaitable_operators;
    boost::system::error_code ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
    asio::steady_timer deadline(socket_.get_executor(), std::chrono::seconds(1));
    std::array<char, 16384> sink;
    std::size_t discarded = 0;
    while (discarded < (1u << 20) && !closed_) {
        auto read = socket_.async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
        auto expiry = deadline.async_wait(as_tuple(use_awaitable));
        auto race = std::move(read) || std::move(expiry);
        const auto first = co_await std::move(race);
        if (first.index() == 1) break;
        const auto [ec, n] = std::get<0>(first);
        if (ec) break; // EOF: the peer has seen ours
        discarded += n;
    }
}

asio::awaitable<void> Connection::run() {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    ReadOutcome read = co_await read_line();
    first_line_done_ = true;
    bool first = !adopted_; // an adopted connection had its first line in the old daemon
    while (read.status == ReadStatus::line && !closed_) {
        const bool keep = co_await handle_line(read.line, first);
        first = false;
        if (!keep || closed_) break;
        read = co_await read_line();
    }
    if (persistent_) {
        // Let queued replies and events go out before the close (bounded by the peer reading them).
        co_await wait_outbox_drained();
    }
    if (read.status == ReadStatus::too_long && !closed_) co_await refuse_over_long_line();
    close();
}

} // namespace ksid::daemon
