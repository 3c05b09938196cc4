#pragma once
// RELOAD_DAEMON and SIGUSR2: an upgrade in place. The running daemon starts the binary on disk (which may
// be newer) with its listening sockets, its directory lock and a channel (app/upgrade_channel.hpp); the
// new daemon says hello once it is set up, the old one stops accepting (connections wait in the
// sockets' backlog, which both hold: none is refused), sends its in-memory state (sessions, agents,
// offline queues), and the new one serves and says ready. Then the old one hands over every persistent
// connection with its unread input and unsent output (an agent keeps its connection, agent id and
// subscriptions), forwards the bus messages its runs in flight still publish (PROCESS_COMPLETE), and exits
// once those runs are done or at a deadline. A new daemon that fails, or is not ready in time, is killed
// and the old one goes on serving: the legacy rollback reply with the reason.
#include "app/upgrade_channel.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ksid::daemon {

class SocketServer;
class MessageBus;
class SessionRegistry;
struct AgentRegistry;
class InstanceGuard;

// What the new daemon inherits, from KSID_UPGRADE_FDS ("legacy=3,facade=4,lock=5,channel=6,unit_socket=1").
struct InheritedUpgrade {
    int legacy_fd = -1;
    int facade_fd = -1;
    int lock_fd = -1;
    int channel_fd = -1;
    bool unit_socket = false; // the legacy socket is a service manager's: never removed at exit
};
inline constexpr const char* upgrade_fds_variable = "KSID_UPGRADE_FDS";
// Pure. nullopt when the text is not of that form (legacy, lock and channel are required).
std::optional<InheritedUpgrade> parse_upgrade_fds(std::string_view text);
std::string format_upgrade_fds(const InheritedUpgrade& fds);
// Reads and removes the variable (children must not see it); nullopt when it is not set. `problem` is set
// when it is set but unusable.
std::optional<InheritedUpgrade> take_upgrade_environment(std::string& problem);
// The new daemon cannot start (a configuration error, a socket its configuration does not match...): tells
// the old one why, which answers it in the rollback reply. Best effort.
void report_upgrade_failure(const InheritedUpgrade& inherited, const std::string& reason);

// The new daemon's side. The old daemon's state, received after hello (blocking: during start-up).
struct InheritedState {
    boost::json::object state; // sessions, agents, offline, history
};
std::optional<InheritedState> receive_inherited_state(int channel, std::chrono::milliseconds timeout,
                                                      std::string& why);
void restore_inherited_state(const boost::json::object& state, SessionRegistry& sessions,
                             AgentRegistry& agents, MessageBus& bus);
// After ready: adopts the connections the old daemon hands over and routes the messages it forwards,
// until it closes the channel (it has exited).
boost::asio::awaitable<void> serve_old_daemon(std::shared_ptr<UpgradeChannel> channel, SocketServer& server,
                                              MessageBus& bus, std::shared_ptr<spdlog::logger> log);

// The old daemon's side.
struct UpgradeParts {
    boost::asio::any_io_executor executor;
    std::shared_ptr<spdlog::logger> log;
    std::string executable;                  // the binary to start (the path ksid was started from)
    std::vector<std::string> argv;           // ksid's own argv
    std::chrono::milliseconds timeout;       // for the new daemon's hello and ready
    std::chrono::milliseconds drain_timeout; // runs in flight get this long to finish here
    int lock_fd = -1;
    bool unit_socket = false;
    SocketServer& server;
    MessageBus& bus;
    SessionRegistry& sessions;
    AgentRegistry& agents;
    InstanceGuard& guard;
    // Extensions' listening sockets (the facade): the descriptor, and what to do once the new daemon serves.
    std::function<int()> facade_fd;
    std::function<void()> facade_hand_over;
    std::function<bool()> idle;                        // no run in flight, no one-shot request being served
    std::function<void(std::string reason)> shut_down; // the normal shutdown, once drained
    // A service manager's notify socket and watchdog, for the new daemon; and the MAINPID= hand-over.
    std::string notify_socket;
    std::optional<std::chrono::microseconds> watchdog;
    std::function<void(long pid)> announce_main_pid;
    std::function<bool()> stopping;             // the daemon is shutting down: no reload
    std::function<bool()> predecessor_draining; // the daemon this one replaced has not finished yet
};

class DaemonUpgrade {
public:
    explicit DaemonUpgrade(UpgradeParts parts) : p_(std::move(parts)) {}
    // The RELOAD_DAEMON result: {"status": "reloaded"} or {"error": ..., "status": "rollback_complete"}.
    boost::asio::awaitable<boost::json::object> run(std::string trigger);
    bool handed_over() const { return handed_over_; }
    // Shutdown: a new daemon still starting is stopped (it must not take over a socket being removed).
    void abort();

private:
    boost::json::object rollback(std::string reason);
    std::optional<std::string> start_new_daemon(int channel_end);
    boost::asio::awaitable<std::optional<ChannelRecord>> receive_in_time(std::string& why);
    boost::asio::awaitable<void> drain();
    void hand_over_idle_connections();
    void stop_new_daemon();
    boost::asio::awaitable<void> reap_new_daemon(); // after the hand-over: no zombie if it exits first
    boost::asio::awaitable<void> wait_until_connections_idle(std::chrono::milliseconds at_most);

    UpgradeParts p_;
    bool running_ = false;
    bool handed_over_ = false;
    bool aborted_ = false;
    bool new_daemon_gone_ = false; // it exited, or the channel failed: connections stay here
    pid_t child_ = -1;
    std::shared_ptr<UpgradeChannel> channel_;
};

} // namespace ksid::daemon
