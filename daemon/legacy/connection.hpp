#pragma once
// One legacy socket connection (spec §3): reads newline-framed requests, hands them to the router and
// writes one reply line per request. One-shot unless the first line is AGENT_CONNECTION connect; on a
// persistent connection replies and bus events share one ordered outbox, so a line is never split.
// A peer that stops reading is dropped: every write must make progress within daemon.write_timeout, and
// the outbox is bounded. An over-long request line ends the connection cleanly (EOF, not a reset).
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/message_bus.hpp"
#include "protocol/line_framer.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ksid::daemon {

namespace asio = boost::asio;

struct ConnectionSettings {
    std::size_t max_line_bytes = 65536;
    // Bytes queued for a peer that does not read; past this the connection is dropped.
    std::size_t max_outbox_bytes = 8u << 20;
    // How long a write may wait for the peer to read before the connection is dropped.
    std::chrono::milliseconds write_timeout{30000};
};

class ConnectionRegistry; // the server's set of live connections
class Lifecycle;
class AsyncSignal;

class Connection final : public BusEndpoint, public std::enable_shared_from_this<Connection> {
public:
    using Socket = asio::local::stream_protocol::socket;

    ~Connection();
    Connection(Socket socket, std::uint64_t id, const ConnectionSettings& settings, CommandRouter& router,
               Lifecycle& lifecycle, std::shared_ptr<spdlog::logger> log);

    asio::awaitable<void> run();

    // Sends one complete line ('\n' included) after everything queued before it: written at once when the
    // socket takes it, queued otherwise. False when the connection is closed or was just dropped because
    // its peer stopped reading (outbox over max_outbox_bytes).
    bool send(std::shared_ptr<const std::string> line);

    // Bus events: queued and written at the end of the current event-loop turn, so that the events of
    // several PUBLISH requests handled in one turn go out in one write per subscriber.
    bool deliver(std::shared_ptr<const std::string> line) override;

    // The agent id a first-line AGENT_CONNECTION connect bound to this connection (empty if none).
    const std::string& bus_agent_id() const { return bus_agent_id_; }
    void set_bus_agent_id(std::string id) { bus_agent_id_ = std::move(id); }

    // RELOAD_DAEMON. Whether the connection can go to the new daemon now: persistent, no request being
    // handled, nothing being written.
    bool can_hand_over() const { return persistent_ && first_line_done_ && !busy_ && !writing_ && !closed_; }
    struct Handover {
        int fd = -1;        // a duplicate of the socket's descriptor (the caller owns it)
        std::string unread; // bytes received and not yet handled (part of a line)
        std::string unsent; // bytes queued and not yet written
    };
    // Takes the connection away from this daemon (it ends here without a word to the peer, who keeps the
    // socket); nullopt when it cannot be handed over or the descriptor cannot be duplicated.
    std::optional<Handover> hand_over();
    bool handed_over() const { return handed_over_; }
    // The new daemon's side: a connection the old one handed over, persistent with its first line done;
    // `unread` is read first, `unsent` written first.
    void adopt_handover(std::string_view unread, std::string unsent);

    // Shutdown: close now if waiting for input, else once the current request has been answered.
    void close_when_idle();
    void close();

    std::uint64_t id() const { return id_; }
    bool persistent() const { return persistent_; }
    bool closed() const { return closed_; }
    // Whether the first line has arrived (or the connection ended); the server closes connections that
    // stay silent past daemon.first_line_timeout.
    bool first_line_done() const { return first_line_done_; }
    std::chrono::steady_clock::time_point accepted_at() const { return accepted_at_; }

private:
    enum class ReadStatus { line, eof, too_long, error };
    struct ReadOutcome {
        ReadStatus status;
        std::string_view line;
    };

    asio::awaitable<ReadOutcome> read_line();
    // Handles one decoded line; returns false when the connection must end.
    asio::awaitable<bool> handle_line(std::string_view raw_line, bool first);
    asio::awaitable<void> write_now(std::shared_ptr<const std::string> line);
    // One write that must make progress within write_timeout: the bytes written, or 0 when it failed or
    // the peer read nothing in time (the connection is then closed).
    asio::awaitable<std::size_t> write_some_in_time(std::span<const asio::const_buffer> buffers);
    asio::awaitable<void> drain_outbox();
    bool enqueue(std::shared_ptr<const std::string> line);
    void flush_now();
    void advance_outbox(std::size_t written);
    asio::awaitable<void> wait_outbox_drained();
    asio::awaitable<void> refuse_over_long_line();
    void log_invalid_line(std::string_view code, std::string_view message);
    void log_failed_request(std::string_view command, const CommandError& err);

    Socket socket_;
    std::uint64_t id_;
    const ConnectionSettings& settings_;
    CommandRouter& router_;
    Lifecycle& lifecycle_;
    std::shared_ptr<spdlog::logger> log_;
    protocol::LineFramer framer_;
    // Lines waiting for the socket; a vector (not a deque) so that an idle connection owns no allocation.
    std::vector<std::shared_ptr<const std::string>> outbox_;
    std::size_t outbox_head_ = 0;  // first unsent line
    std::size_t head_written_ = 0; // bytes of that line already written
    std::size_t outbox_bytes_ = 0;
    std::unique_ptr<AsyncSignal> drained_; // created only when someone waits for the outbox
    bool writing_ = false;
    bool flush_scheduled_ = false;
    bool maybe_readable_ = true; // no EAGAIN seen since the last readiness report
    bool persistent_ = false;
    bool busy_ = false; // a request is being handled
    bool close_requested_ = false;
    bool closed_ = false;
    bool first_line_done_ = false;
    bool handed_over_ = false;
    bool adopted_ = false; // came from the old daemon (RELOAD_DAEMON)
    std::string bus_agent_id_;
    std::chrono::steady_clock::time_point accepted_at_ = std::chrono::steady_clock::now();
};

} // namespace ksid::daemon
