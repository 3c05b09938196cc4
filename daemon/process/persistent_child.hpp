#pragma once
// A long-lived child process (a warm `claude --input-format stream-json`): started like every child of ksid
// (posix_spawn, its own process group, pipes on 0/1/2, a pidfd), but its stdin stays open for lines written
// over time and its stdout is handed on as it arrives. stop() sends SIGTERM to the group and SIGKILL after a
// grace; when the leader exits, whatever it left in its group is killed and the leader is reaped.
#include "daemon/core/lifecycle.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ksid::daemon {

struct PersistentChildSpec {
    std::vector<std::string> argv; // argv[0] is looked up in PATH when it has no '/'
    std::string cwd;               // empty: the daemon's
    std::size_t stderr_tail_bytes = 8192;
};

// Resident memory by process group (pgid → bytes), from one pass over /proc.
std::map<pid_t, std::size_t> resident_memory_by_group();

class PersistentChild : public std::enable_shared_from_this<PersistentChild> {
public:
    using OutputHandler = std::function<void(std::string_view)>;
    struct Private;

    // Spawns the child: nullptr with `error` (an errno) when it cannot be started. on_stdout gets stdout as
    // it arrives; on_exit runs once, after the child has exited and been reaped.
    static std::shared_ptr<PersistentChild> start(asio::any_io_executor executor,
                                                  const PersistentChildSpec& spec, OutputHandler on_stdout,
                                                  std::function<void()> on_exit, int& error);
    PersistentChild(Private, asio::any_io_executor executor, std::size_t stderr_tail_bytes);
    ~PersistentChild();

    // Queues bytes for stdin; they are written in order. False when stdin is already closed.
    bool write(std::string data);
    // Bytes queued for stdin and not yet taken by the child (a caller's bound on a slow child).
    std::size_t queued_bytes() const { return queued_bytes_; }
    // SIGTERM to the group now, SIGKILL after `grace` (idempotent; a shorter grace wins).
    void stop(std::chrono::milliseconds grace);
    bool exited() const { return exited_; }
    // Waits until the child has exited and been reaped, or the deadline passes.
    asio::awaitable<void> wait_exit(std::chrono::steady_clock::time_point deadline);
    pid_t pid() const { return pid_; }
    int returncode() const { return returncode_; } // exit status, or minus the signal
    const std::string& stderr_tail() const { return stderr_tail_; }

private:
    asio::awaitable<void> supervise();
    asio::awaitable<void> read_stdout();
    asio::awaitable<void> read_stderr();
    asio::awaitable<void> write_queued();
    asio::awaitable<void> watch_exit();

    struct Pipes;
    std::unique_ptr<Pipes> io_;
    OutputHandler on_stdout_;
    std::function<void()> on_exit_;
    std::deque<std::string> queued_;
    std::size_t queued_bytes_ = 0;
    bool writing_ = false;
    std::size_t stderr_limit_;
    std::string stderr_tail_;
    pid_t pid_ = -1;
    int returncode_ = 0;
    bool stopping_ = false;
    bool exited_ = false;
    int readers_done_ = 0;
    std::chrono::steady_clock::time_point kill_at_{};
    AsyncSignal exit_signal_;
};

} // namespace ksid::daemon
