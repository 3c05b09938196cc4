// systemd's notify protocol and passed environment without libsystemd (see service_notify.hpp).
#include "daemon/core/service_notify.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

namespace ksid::daemon {

namespace {

constexpr std::size_t max_status_bytes = 512;
constexpr int max_listen_fds = 64;

// A decimal number without sign, spaces or trailing text.
std::optional<unsigned long long> parse_decimal(const char* text) {
    if (!text || !*text) return std::nullopt;
    const std::string_view s(text);
    unsigned long long value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return value;
}

std::string one_line(std::string_view status) {
    std::string out(status.substr(0, max_status_bytes));
    for (auto& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}

std::vector<std::string> split_names(std::string_view names) {
    std::vector<std::string> out;
    for (;;) {
        const auto colon = names.find(':');
        out.emplace_back(names.substr(0, colon));
        if (colon == std::string_view::npos) break;
        names.remove_prefix(colon + 1);
    }
    return out;
}

} // namespace

ServiceEnvironment parse_service_environment(const char* notify_socket, const char* watchdog_usec,
                                             const char* watchdog_pid, const char* listen_pid,
                                             const char* listen_fds, const char* listen_fdnames, pid_t self) {
    ServiceEnvironment env;
    if (notify_socket && *notify_socket) {
        if (notify_address(notify_socket))
            env.notify_socket = notify_socket;
        else
            env.problems.push_back(std::string("NOTIFY_SOCKET '") + notify_socket +
                                   "' is neither an absolute path nor an abstract name (@...): ignored");
    }
    if (watchdog_usec) {
        const auto usec = parse_decimal(watchdog_usec);
        const auto pid = parse_decimal(watchdog_pid);
        if (!usec || *usec == 0)
            env.problems.push_back(std::string("WATCHDOG_USEC '") + watchdog_usec +
                                   "' is not a positive number: ignored");
        else if (watchdog_pid && (!pid || *pid != static_cast<unsigned long long>(self)))
            ; // the watchdog is another process's
        else
            env.watchdog = std::chrono::microseconds(*usec);
    }
    if (listen_fds) {
        const auto pid = parse_decimal(listen_pid);
        const auto n = parse_decimal(listen_fds);
        if (pid && *pid == static_cast<unsigned long long>(self)) {
            if (!n || *n > static_cast<unsigned long long>(max_listen_fds))
                env.problems.push_back(std::string("LISTEN_FDS '") + listen_fds +
                                       "' is not a number from 0 to " + std::to_string(max_listen_fds) +
                                       ": no passed socket is used");
            else
                env.listen_fds = static_cast<int>(*n);
            if (env.listen_fds > 0 && listen_fdnames) env.listen_fd_names = split_names(listen_fdnames);
        }
    }
    return env;
}

ServiceEnvironment take_service_environment() {
    static constexpr const char* names[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                                            "LISTEN_PID",    "LISTEN_FDS",    "LISTEN_FDNAMES"};
    auto value = [](const char* name) { return std::getenv(name); };
    // Copies: unsetenv below frees what getenv returned.
    std::optional<std::string> values[std::size(names)];
    for (std::size_t i = 0; i < std::size(names); ++i)
        if (const char* v = value(names[i])) values[i] = v;
    auto get = [&](std::size_t i) { return values[i] ? values[i]->c_str() : nullptr; };
    auto env = parse_service_environment(get(0), get(1), get(2), get(3), get(4), get(5), ::getpid());
    for (const char* name : names)
        ::unsetenv(name);
    for (int fd = first_passed_fd; fd < first_passed_fd + env.listen_fds; ++fd) {
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    return env;
}

std::string ready_message(std::string_view status) {
    return "READY=1\nSTATUS=" + one_line(status);
}

std::string status_message(std::string_view status) {
    return "STATUS=" + one_line(status);
}

std::string stopping_message(std::string_view status) {
    return "STOPPING=1\nSTATUS=" + one_line(status);
}

std::string reloading_message(std::chrono::microseconds monotonic_now, std::string_view status) {
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_now.count()) +
           "\nSTATUS=" + one_line(status);
}

std::optional<NotifyAddress> notify_address(std::string_view value) {
    NotifyAddress a;
    a.addr.sun_family = AF_UNIX;
    if (value.size() < 2 || value.size() >= sizeof a.addr.sun_path) return std::nullopt;
    if (value.find('\0') != std::string_view::npos) return std::nullopt;
    if (value.front() != '/' && value.front() != '@') return std::nullopt;
    std::memcpy(a.addr.sun_path, value.data(), value.size());
    if (value.front() == '@') a.addr.sun_path[0] = '\0'; // abstract: the name is the bytes after the NUL
    a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size() +
                                      (value.front() == '/' ? 1 : 0));
    return a;
}

ServiceNotifier::ServiceNotifier(const ServiceEnvironment& env)
    : address_(notify_address(env.notify_socket)), watchdog_(env.watchdog), socket_name_(env.notify_socket) {
    if (!address_) return;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) last_error_ = std::strerror(errno);
}

ServiceNotifier::~ServiceNotifier() {
    if (fd_ >= 0) ::close(fd_);
}

std::string ServiceNotifier::describe() const {
    std::string out;
    if (address_) out = "notify socket " + socket_name_;
    if (watchdog_) {
        if (!out.empty()) out += ", ";
        out += "watchdog every " + std::to_string((*watchdog_ / 2).count() / 1000) + " ms";
        if (!address_) out += " (no notify socket: no pings)";
    }
    return out;
}

bool ServiceNotifier::reloading(std::string_view status) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto now = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    return send(reloading_message(std::chrono::duration_cast<std::chrono::microseconds>(now), status));
}

bool ServiceNotifier::hand_over_to(long pid, std::string_view status) {
    const bool sent = send("MAINPID=" + std::to_string(pid) + "\n" + status_message(status));
    address_.reset();
    watchdog_.reset();
    return sent;
}

bool ServiceNotifier::send(std::string_view message) {
    if (!address_ || fd_ < 0) return false;
    // Non-blocking: a service manager that does not read must not stall the event loop; the datagram is
    // then lost, as with sd_notify.
    const ssize_t n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(&address_->addr), address_->length);
    if (n < 0) {
        last_error_ = std::strerror(errno);
        return false;
    }
    return true;
}

boost::asio::awaitable<void> ServiceNotifier::watchdog_loop() {
    namespace asio = boost::asio;
    if (!watchdog_ || !address_) co_return;
    const auto half = std::chrono::duration_cast<std::chrono::steady_clock::duration>(*watchdog_ / 2);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        watchdog_ping();
        timer.expires_after(half);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
    }
}

} // namespace ksid::daemon
