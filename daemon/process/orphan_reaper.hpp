#pragma once
// Processes that escape a run's process group (a tool that calls setsid(), a daemonising script) must not
// outlive the run. ksid is a child subreaper (PR_SET_CHILD_SUBREAPER), so such a process is re-parented to
// ksid, not to init, once its parent exits. The reaper then
// - reaps re-parented processes that exit (no zombies), without taking the exit status of ksid's own
//   children, which their pidfd owners reap (child_process, persistent_child): waitid(P_ALL, WNOWAIT)
//   peeks first, and only a pid that is not in own_children() is reaped;
// - kills (SIGKILL) re-parented processes whose run has ended: each child of ksid and everything it starts
//   inherits KSID_SPAWN_ID (posix_spawn.hpp), and a process whose spawn id is no longer live belongs to a
//   finished run. A process without one (it cleared its environment) is killed when ksid has no children
//   at all, and at shutdown. Sweeps run 100 ms and 1.1 s after a child of ksid was reaped (coalesced).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ksid::daemon {

namespace asio = boost::asio;

// A process re-parented to ksid, as seen in /proc.
struct Orphan {
    pid_t pid = 0;
    bool zombie = false;
    std::optional<std::uint64_t> spawn_id; // KSID_SPAWN_ID from its environment
};

// Pure: whether a re-parented process is to be killed now.
bool orphan_must_go(const Orphan& orphan, bool spawn_id_live, bool ksid_has_children, bool shutting_down);

class OrphanReaper {
public:
    OrphanReaper(asio::any_io_executor executor, std::shared_ptr<spdlog::logger> log);
    ~OrphanReaper();
    OrphanReaper(const OrphanReaper&) = delete;
    OrphanReaper& operator=(const OrphanReaper&) = delete;

    // Makes ksid a child subreaper and starts watching SIGCHLD; an error text when prctl fails (ksid then
    // runs without it: escaped processes go to init, as before).
    std::optional<std::string> start();

    // Shutdown, after every child was stopped: kills every re-parented process and reaps them until
    // `deadline`.
    asio::awaitable<void> shutdown(std::chrono::steady_clock::time_point deadline);

private:
    asio::awaitable<void> watch_sigchld();
    void schedule_sweeps();
    asio::awaitable<void> sweep_later(std::uint64_t generation);
    void sweep();              // reaps, then kills what must go
    std::size_t reap_exited(); // reaps exited processes that are not ksid's own children
    void recheck_soon();
    asio::awaitable<void> recheck_later(); // reap_exited() again in 10 ms (an own child was in the way)
    std::size_t kill_finished(bool all);   // SIGKILLs re-parented processes that must go; how many
    std::vector<Orphan> find_orphans() const;

    asio::any_io_executor executor_;
    std::shared_ptr<spdlog::logger> log_;
    asio::signal_set sigchld_;
    bool enabled_ = false;
    bool stopping_ = false;
    bool sweep_pending_ = false;
    std::uint64_t sweep_generation_ = 0; // pairs of sweeps started
    bool recheck_pending_ = false;
    pid_t self_ = 0;
};

} // namespace ksid::daemon
