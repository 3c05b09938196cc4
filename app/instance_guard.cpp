#include "app/instance_guard.hpp"

#include "daemon/core/filesystem.hpp"

#include <boost/json/parse.hpp>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace ksid::daemon {

namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        return r > 0;
    }
}

bool is_healthy_reply(const std::string& line) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) return false;
    const auto& o = v.get_object();
    const auto* status = o.if_contains("status");
    const auto* result = o.if_contains("result");
    if (!status || !status->is_string() || status->get_string() != "success") return false;
    if (!result || !result->is_object()) return false;
    const auto* rs = result->get_object().if_contains("status");
    return rs && rs->is_string() && rs->get_string() == "healthy";
}

bool process_alive(pid_t pid) {
    return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

bool looks_like_daemon(pid_t pid) {
    auto cmdline = read_small_file("/proc/" + std::to_string(pid) + "/cmdline", 1 << 16);
    if (!cmdline) return true; // cannot tell: treat it as a daemon and let the socket probe decide
    for (auto& c : *cmdline)
        if (c == '\0') c = ' ';
    return cmdline->find("daemon.py") != std::string::npos ||
           cmdline->find("claude_daemon") != std::string::npos || cmdline->find("ksid") != std::string::npos;
}

} // namespace

ProbeResult probe_socket(const std::string& socket_path, std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) return ProbeResult::no_listener;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (s.fd < 0) return ProbeResult::no_listener;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EAGAIN || errno == EINPROGRESS) {
            // backlog full: the socket has a listener; wait for the connection
            if (!wait_fd(s.fd, POLLOUT, deadline)) return ProbeResult::answering;
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) return ProbeResult::no_listener;
        } else {
            return ProbeResult::no_listener;
        }
    }
    static constexpr std::string_view request =
        "{\"command\": \"HEALTH_CHECK\", \"version\": \"2.0\", \"parameters\": {}}\n";
    std::string_view rest = request;
    while (!rest.empty()) {
        const ssize_t n = ::send(s.fd, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n > 0) {
            rest.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(s.fd, POLLOUT, deadline)) return ProbeResult::answering;
        } else {
            return ProbeResult::answering;
        }
    }
    std::string reply;
    char buf[4096];
    while (reply.find('\n') == std::string::npos && reply.size() < (1 << 16)) {
        if (!wait_fd(s.fd, POLLIN, deadline)) break;
        const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
        if (n > 0)
            reply.append(buf, static_cast<std::size_t>(n));
        else if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        else
            break;
    }
    return is_healthy_reply(reply.substr(0, reply.find('\n'))) ? ProbeResult::healthy
                                                               : ProbeResult::answering;
}

GuardDecision claim_directory(DirectoryLock& lock, const std::string& directory,
                              const std::string& socket_path, bool hot_reload,
                              std::chrono::milliseconds patience, bool socket_passed) {
    using Kind = GuardDecision::Kind;
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (bool first = true;; first = false) {
        std::error_code ec;
        const auto outcome = lock.try_acquire(directory, ec);
        if (outcome == DirectoryLock::Outcome::acquired) return {Kind::proceed, {}};
        if (outcome == DirectoryLock::Outcome::failed)
            return {Kind::proceed, "cannot lock " + directory + "/ (" + ec.message() +
                                       "): a second daemon started in this directory would not be detected"};
        if (hot_reload)
            return {Kind::proceed, "--hot-reload-from: the daemon being replaced holds the lock on " +
                                       directory + "/; running next to it without the lock"};
        // The holder may be starting (not listening yet) or stopping (the lock goes when it exits).
        if (!socket_passed &&
            probe_socket(socket_path, std::chrono::milliseconds(1000)) == ProbeResult::healthy)
            return {Kind::already_running, "Daemon already running and healthy on " + socket_path};
        if (!first && std::chrono::steady_clock::now() >= deadline) break;
        ::usleep(100'000);
    }
    return {Kind::refuse,
            "another daemon is already running in this directory (it holds the lock on " + directory +
                "/) and does not answer on " + socket_path +
                "; not starting a second one (stop it, or start this one in another directory)"};
}

InstanceGuard::InstanceGuard(std::string socket_path, std::string pid_file)
    : socket_path_(std::move(socket_path)), pid_file_(std::move(pid_file)) {}

GuardDecision InstanceGuard::check(bool skip_pid_check, std::string& notes) {
    using Kind = GuardDecision::Kind;
    constexpr auto probe_timeout = std::chrono::milliseconds(2000);
    if (!skip_pid_check) {
        if (auto content = read_small_file(pid_file_, 64)) {
            char* end = nullptr;
            const long pid = std::strtol(content->c_str(), &end, 10);
            const bool numeric = !content->empty() && end && *end == '\0' && pid > 0;
            if (!numeric) {
                notes += "removed PID file with invalid content; ";
                ::unlink(pid_file_.c_str());
            } else if (!process_alive(static_cast<pid_t>(pid))) {
                notes += "removed stale PID file (process " + std::to_string(pid) + " is gone); ";
                ::unlink(pid_file_.c_str());
            } else if (!looks_like_daemon(static_cast<pid_t>(pid))) {
                notes += "removed PID file naming an unrelated process " + std::to_string(pid) + "; ";
                ::unlink(pid_file_.c_str());
            } else if (socket_passed_) {
                notes += "removed PID file naming process " + std::to_string(pid) +
                         ": the service manager passed the socket to this daemon; ";
                ::unlink(pid_file_.c_str());
            } else if (probe_socket(socket_path_, probe_timeout) == ProbeResult::healthy) {
                return {Kind::already_running, "Daemon already running (PID " + std::to_string(pid) +
                                                   ") and healthy on " + socket_path_};
            } else {
                notes += "PID file names process " + std::to_string(pid) +
                         " but it does not answer on the socket; ";
                ::unlink(pid_file_.c_str());
            }
        }
    }
    if (socket_passed_) return {Kind::proceed, {}};
    struct stat st {};
    if (::lstat(socket_path_.c_str(), &st) != 0) return {Kind::proceed, {}};
    if (!S_ISSOCK(st.st_mode))
        return {Kind::refuse, socket_path_ + " exists and is not a socket; refusing to replace it"};
    switch (probe_socket(socket_path_, probe_timeout)) {
    case ProbeResult::healthy:
        if (skip_pid_check)
            return {Kind::refuse,
                    "a healthy daemon already answers on " + socket_path_ + "; not replacing it"};
        return {Kind::already_running, "Daemon already running and healthy on " + socket_path_};
    case ProbeResult::answering:
        return {Kind::refuse,
                "another process answers on " + socket_path_ +
                    " but not as a healthy daemon; not replacing it (stop it, or use --socket)"};
    case ProbeResult::no_listener:
        if (::unlink(socket_path_.c_str()) == 0) notes += "removed stale socket " + socket_path_ + "; ";
        return {Kind::proceed, {}};
    }
    return {Kind::proceed, {}};
}

void InstanceGuard::claim_socket() {
    if (socket_passed_) return; // the unit's socket: it stays when ksid exits, so no connection is refused
    struct stat st {};
    if (::lstat(socket_path_.c_str(), &st) == 0) socket_identity_ = std::pair{st.st_dev, st.st_ino};
}

std::optional<std::string> InstanceGuard::write_pid_file() {
    // No trailing newline, as the legacy daemon writes it.
    if (auto ec = write_file_atomic(pid_file_, std::to_string(::getpid()), Durability::rename_only))
        return "cannot write PID file " + pid_file_ + ": " + ec.message();
    wrote_pid_ = true;
    return std::nullopt;
}

void InstanceGuard::release_socket() {
    if (!socket_identity_) return;
    struct stat st {};
    if (::lstat(socket_path_.c_str(), &st) == 0 && st.st_dev == socket_identity_->first &&
        st.st_ino == socket_identity_->second)
        ::unlink(socket_path_.c_str());
    socket_identity_.reset();
}

bool InstanceGuard::release_pid_file() {
    if (!wrote_pid_) return false;
    wrote_pid_ = false;
    auto content = read_small_file(pid_file_, 64);
    return content && *content == std::to_string(::getpid()) && ::unlink(pid_file_.c_str()) == 0;
}

} // namespace ksid::daemon
