#pragma once
// Running one child process safely (design "Children"): posix_spawn with an argv vector (no shell), its
// own process group, stdin written and closed while stdout/stderr are drained concurrently, output
// bounded, a pidfd to learn of its exit, and SIGTERM → grace → SIGKILL to the whole group on timeout,
// cancellation or shutdown. The group is also killed after the leader exits (nothing is left running)
// and the leader is reaped only after that, so its PID and group id cannot be reused in between.
#include "daemon/core/cancellation.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

namespace asio = boost::asio;

struct ChildSpec {
    std::vector<std::string> argv; // argv[0] is looked up in PATH when it has no '/'
    std::string cwd;               // empty: the daemon's working directory
    std::string stdin_data;
    std::size_t max_output_bytes = 16u << 20; // stdout + stderr
    bool kill_on_output_limit = true;         // false: keep draining, stop collecting (long-lived agents)
    std::chrono::milliseconds time_limit{300'000};
    std::chrono::milliseconds kill_grace{3'000};
    // Called with each stdout chunk as it arrives (streaming consumers); output is still collected.
    std::function<void(std::string_view)> on_stdout;
};

struct ChildOutcome {
    enum class Status {
        exited,       // exit_code is valid
        signaled,     // killed by term_signal (not by us)
        spawn_failed, // spawn_errno is valid
        timed_out,    // we killed it at the time limit
        output_too_large,
        cancelled, // we killed it on request (client gone, shutdown)
    };
    Status status = Status::spawn_failed;
    int exit_code = -1;
    int term_signal = 0;
    int spawn_errno = 0;
    std::string stdout_data;
    std::string stderr_data;
    std::chrono::steady_clock::duration duration{};
    pid_t pid = -1;

    // Python's subprocess returncode: the exit status, or minus the signal that ended it.
    int returncode() const { return status == Status::exited ? exit_code : -term_signal; }
};

asio::awaitable<ChildOutcome> run_child(ChildSpec spec, std::shared_ptr<CancellationToken> control = nullptr);

// Resolves a command name like execvp would (a name with '/' is taken as a path). Empty when not found.
std::string find_executable(const std::string& command);

} // namespace ksid::daemon
