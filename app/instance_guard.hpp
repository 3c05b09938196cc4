#pragma once
// Start-up collision detection and ownership of the socket path and PID file (spec §2.3, Recommended):
// a healthy daemon already serving the socket means "exit 0 and touch nothing"; a socket that answers is
// never unlinked; at exit only what is still ours is removed. Before any of that, one daemon per working
// directory: the lock on shared_state/ (claim_directory).
#include "daemon/core/filesystem.hpp"

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace ksid::daemon {

enum class ProbeResult {
    no_listener, // nothing answers (missing path, refused, not a socket we can talk to)
    healthy,     // a daemon answered the JSON HEALTH_CHECK with success/healthy
    answering,   // something accepted the connection but did not answer healthy
};

// Sends {"command":"HEALTH_CHECK","version":"2.0","parameters":{}} and reads one line (blocking, bounded).
ProbeResult probe_socket(const std::string& socket_path, std::chrono::milliseconds timeout);

struct GuardDecision {
    enum class Kind { proceed, already_running, refuse } kind = Kind::proceed;
    std::string message; // for logs: what was found and done
};

// Takes `lock` on `directory` (shared_state/) for the daemon's lifetime, before the PID file is touched: a
// second daemon in the same working directory, even on another socket, would delete the first's PID file
// and both would write shared_state/. When another daemon holds it: already_running if a healthy daemon
// answers on our socket, else refuse, after trying both again for up to `patience` (the holder may be
// starting, or exiting). With hot_reload
// (--hot-reload-from, which starts the new daemon next to the old one on purpose) it proceeds without the
// lock. A lock that cannot be taken at all (e.g. NFS) proceeds with a warning in `message`. With
// socket_passed (socket activation: the listening socket is ours already) the socket is not probed: no other
// daemon can be serving it, and a probe would only wait in our own backlog.
GuardDecision claim_directory(DirectoryLock& lock, const std::string& directory,
                              const std::string& socket_path, bool hot_reload,
                              std::chrono::milliseconds patience, bool socket_passed = false);

class InstanceGuard {
public:
    InstanceGuard(std::string socket_path, std::string pid_file);

    // Collision detection. With skip_pid_check (--hot-reload-from) the PID file is not consulted, but an
    // answering socket is still never unlinked.
    GuardDecision check(bool skip_pid_check, std::string& log_notes);
    // Socket activation: the service manager bound the socket and passed it. check() then leaves the path
    // alone (it is not probed, never unlinked), a PID file naming another live process is stale (that
    // process cannot be serving our socket), and release_socket() never removes it.
    void use_passed_socket() { socket_passed_ = true; }

    // Call right after bind(): remembers the socket's inode so that exit removes only our own socket.
    void claim_socket();
    std::optional<std::string> write_pid_file(); // error text on failure

    void release_socket(); // unlink the socket path if it is still the one we bound
    // RELOAD_DAEMON: the new daemon serves the socket now and removes it when it exits; this one must not.
    void disown_socket() { socket_identity_.reset(); }
    bool release_pid_file(); // delete the PID file if it still holds our PID (true when it did)

private:
    std::string socket_path_;
    std::string pid_file_;
    std::optional<std::pair<dev_t, ino_t>> socket_identity_;
    bool wrote_pid_ = false;
    bool socket_passed_ = false;
};

} // namespace ksid::daemon
