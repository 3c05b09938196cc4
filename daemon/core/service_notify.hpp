#pragma once
// systemd's side of a service without libsystemd (sd_notify(3), sd_watchdog_enabled(3), sd_listen_fds(3)):
// what the service manager put in the environment, read once at start and removed so that no child
// (claude, agents) inherits it; the notify messages (pure); and a notifier that sends each as one datagram
// to $NOTIFY_SOCKET, never blocking, and a watchdog coroutine that pings from the event loop (a hung loop
// stops pinging, so systemd restarts it).
#include <boost/asio/awaitable.hpp>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::daemon {

// The first descriptor the service manager passes (SD_LISTEN_FDS_START).
inline constexpr int first_passed_fd = 3;

struct ServiceEnvironment {
    std::string notify_socket;                         // $NOTIFY_SOCKET, "" when unset
    std::optional<std::chrono::microseconds> watchdog; // WATCHDOG_USEC, when WATCHDOG_PID is unset or us
    int listen_fds = 0;                                // LISTEN_FDS, when LISTEN_PID is us
    std::vector<std::string> listen_fd_names;          // LISTEN_FDNAMES split on ':' (may be shorter)
    std::vector<std::string> problems;                 // variables set but not usable, for the log
};

// Pure: the variables' values (null when unset) for process `self`.
ServiceEnvironment parse_service_environment(const char* notify_socket, const char* watchdog_usec,
                                             const char* watchdog_pid, const char* listen_pid,
                                             const char* listen_fds, const char* listen_fdnames, pid_t self);

// Reads the variables, removes all six (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES) from this process's environment, which every child inherits, and sets FD_CLOEXEC on the
// passed descriptors. Call first in main, before any thread or child exists.
ServiceEnvironment take_service_environment();

// Pure: the messages, newline-separated assignments as sd_notify(3) takes them. A status text keeps one
// line (control characters become spaces) and at most 512 bytes.
std::string ready_message(std::string_view status);
std::string status_message(std::string_view status);
std::string stopping_message(std::string_view status);
std::string reloading_message(std::chrono::microseconds monotonic_now, std::string_view status);
inline constexpr std::string_view watchdog_message = "WATCHDOG=1";

// Pure: the address for a $NOTIFY_SOCKET value: an absolute path, or an abstract name when it starts with
// '@'. nullopt for anything else (empty, relative, too long, vsock:).
struct NotifyAddress {
    sockaddr_un addr{};
    socklen_t length = 0;
};
std::optional<NotifyAddress> notify_address(std::string_view value);

// Sends notify messages; does nothing (and fails nothing) when $NOTIFY_SOCKET was unset.
class ServiceNotifier {
public:
    explicit ServiceNotifier(const ServiceEnvironment& env);
    ~ServiceNotifier();
    ServiceNotifier(const ServiceNotifier&) = delete;
    ServiceNotifier& operator=(const ServiceNotifier&) = delete;

    bool enabled() const { return address_.has_value(); }
    std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }
    // "notify socket /run/..., watchdog every 15000 ms" or "" when not under a service manager, for the log.
    std::string describe() const;

    // Once the socket (and the facade) listen and the extensions run: READY=1 and STATUS=.
    bool ready(std::string_view status) { return send(ready_message(status)); }
    bool status(std::string_view status) { return send(status_message(status)); }
    bool stopping(std::string_view status) { return send(stopping_message(status)); }
    // SIGHUP with Type=notify-reload: call reloading() when a reload starts (RELOADING=1 and MONOTONIC_USEC=
    // the CLOCK_MONOTONIC time now), then ready() when it has ended, whether it applied or not.
    bool reloading(std::string_view status);
    bool watchdog_ping() { return send(watchdog_message); }
    // RELOAD_DAEMON: the new daemon is the service's main process from now on (MAINPID=, allowed to the
    // main process under NotifyAccess=main); this one sends nothing more, no STOPPING=1 either.
    bool hand_over_to(long pid, std::string_view status);
    // What the new daemon is started with, so that it notifies the same manager: "" when none.
    const std::string& socket_name() const { return socket_name_; }

    // Pings every half the watchdog interval from the event loop it runs on, for as long as that runs;
    // returns at once without a watchdog.
    boost::asio::awaitable<void> watchdog_loop();

    // The errno text of the last send that failed ("" if none), for the log.
    const std::string& last_error() const { return last_error_; }

private:
    bool send(std::string_view message);

    std::optional<NotifyAddress> address_;
    std::optional<std::chrono::microseconds> watchdog_;
    std::string socket_name_;
    int fd_ = -1;
    std::string last_error_;
};

} // namespace ksid::daemon
