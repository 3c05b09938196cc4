#pragma once
// Start-up collision detection and ownership of the socket path and PID file (spec §2.3, Recommended):
// a healthy daemon already serving the socket means "exit 0 and touch nothing"; a socket that answers is
// never unlinked; at exit only what is still ours is removed.
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

class InstanceGuard {
public:
    InstanceGuard(std::string socket_path, std::string pid_file);

    // Collision detection. With skip_pid_check (--hot-reload-from) the PID file is not consulted, but an
    // answering socket is still never unlinked.
    GuardDecision check(bool skip_pid_check, std::string& log_notes);

    // Call right after bind(): remembers the socket's inode so that exit removes only our own socket.
    void claim_socket();
    std::optional<std::string> write_pid_file(); // error text on failure

    void release_socket();   // unlink the socket path if it is still the one we bound
    void release_pid_file(); // delete the PID file if it still holds our PID

private:
    std::string socket_path_;
    std::string pid_file_;
    std::optional<std::pair<dev_t, ino_t>> socket_identity_;
    bool wrote_pid_ = false;
};

} // namespace ksid::daemon
