#include "daemon/process/orphan_reaper.hpp"

#include "daemon/process/posix_spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string_view>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ksid::daemon {

namespace {

using asio::as_tuple;
using asio::use_awaitable;

// Reads a small /proc file (stat, environ) whole; empty when it is gone.
std::string read_proc_file(const std::string& path, std::size_t max) {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[4096];
    for (ssize_t n; out.size() < max && (n = ::read(fd, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
}

std::optional<std::uint64_t> spawn_id_in(std::string_view environ_block) {
    constexpr std::string_view key = "KSID_SPAWN_ID=";
    for (std::size_t at = 0; at < environ_block.size();) {
        auto end = environ_block.find('\0', at);
        if (end == std::string_view::npos) end = environ_block.size();
        const auto entry = environ_block.substr(at, end - at);
        if (entry.starts_with(key)) {
            std::uint64_t id = 0;
            for (char c : entry.substr(key.size())) {
                if (c < '0' || c > '9') return std::nullopt;
                id = id * 10 + static_cast<std::uint64_t>(c - '0');
            }
            return id;
        }
        at = end + 1;
    }
    return std::nullopt;
}

} // namespace

bool orphan_must_go(const Orphan& orphan, bool spawn_id_live, bool ksid_has_children, bool shutting_down) {
    if (orphan.zombie) return false; // already dead: reaped, not killed
    if (shutting_down) return true;
    if (orphan.spawn_id) return !spawn_id_live; // its run has ended
    return !ksid_has_children;                  // unattributed: only when no run can own it
}

OrphanReaper::OrphanReaper(asio::any_io_executor executor, std::shared_ptr<spdlog::logger> log)
    : executor_(executor), log_(std::move(log)), sigchld_(executor), self_(::getpid()) {}

OrphanReaper::~OrphanReaper() {
    if (enabled_) own_children().on_reaped = nullptr;
}

std::optional<std::string> OrphanReaper::start() {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        return std::string("cannot become a child subreaper: ") + std::strerror(errno);
    enabled_ = true;
    own_children().on_reaped = [this] { schedule_sweeps(); };
    boost::system::error_code ec;
    sigchld_.add(SIGCHLD, ec);
    if (ec) return "cannot watch SIGCHLD: " + ec.message();
    // Asio installs its handler without SA_RESTART: SIGCHLD comes with every run's end, and must not make a
    // blocking call elsewhere fail with EINTR.
    struct sigaction sa {};
    if (::sigaction(SIGCHLD, nullptr, &sa) == 0) {
        sa.sa_flags |= SA_RESTART | SA_NOCLDSTOP;
        ::sigaction(SIGCHLD, &sa, nullptr);
    }
    asio::co_spawn(executor_, watch_sigchld(), asio::detached);
    return std::nullopt;
}

asio::awaitable<void> OrphanReaper::watch_sigchld() {
    for (;;) {
        auto [ec, signo] = co_await sigchld_.async_wait(as_tuple(use_awaitable));
        if (ec) co_return; // cancelled at shutdown
        // A re-parented process that exits leaves its own children to ksid in turn: look for them too.
        if (reap_exited() > 0) schedule_sweeps();
    }
}

void OrphanReaper::schedule_sweeps() {
    if (!enabled_ || stopping_ || sweep_pending_) return;
    sweep_pending_ = true;
    asio::co_spawn(executor_, sweep_later(++sweep_generation_), asio::detached);
}

asio::awaitable<void> OrphanReaper::sweep_later(std::uint64_t generation) {
    asio::steady_timer timer(executor_);
    // Soon after a run ended, and once more a second later for a process whose parent (killed with the
    // run's group) took a moment to exit and re-parent it. Coalesced, so that a /proc scan (under a
    // millisecond for a hundred processes) runs at most ten times a second however many runs end: one
    // first sweep per 100 ms, and the later one only if no run has ended since (the next pair covers it).
    timer.expires_after(std::chrono::milliseconds(100));
    co_await timer.async_wait(as_tuple(use_awaitable));
    if (stopping_) co_return;
    sweep_pending_ = false; // runs ending from now on get sweeps of their own
    sweep();
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(as_tuple(use_awaitable));
    if (!stopping_ && generation == sweep_generation_) sweep();
}

void OrphanReaper::sweep() {
    reap_exited();
    if (kill_finished(false) > 0) schedule_sweeps(); // what the killed ones started is re-parented next
}

void OrphanReaper::recheck_soon() {
    // The peek sees only the first exited child: while one of ksid's own waits for its owner (on this
    // loop, within moments), a re-parented one behind it is looked at again 10 ms later.
    if (recheck_pending_ || stopping_) return;
    recheck_pending_ = true;
    asio::co_spawn(executor_, recheck_later(), asio::detached);
}

asio::awaitable<void> OrphanReaper::recheck_later() {
    asio::steady_timer timer(executor_, std::chrono::milliseconds(10));
    co_await timer.async_wait(as_tuple(use_awaitable));
    recheck_pending_ = false;
    if (!stopping_ && reap_exited() > 0) schedule_sweeps();
}

std::size_t OrphanReaper::reap_exited() {
    const auto& own = own_children();
    std::size_t reaped = 0;
    for (;;) {
        siginfo_t info{};
        // Peek: the exit status of ksid's own children belongs to their pidfd owners.
        if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
        if (own.spawn_id_of.contains(info.si_pid)) { // its owner reaps it; look behind it again soon
            recheck_soon();
            break;
        }
        siginfo_t gone{};
        if (::waitid(P_PID, static_cast<id_t>(info.si_pid), &gone, WEXITED | WNOHANG) != 0) break;
        ++reaped;
    }
    if (reaped > 0) log_->debug("Reaped {} re-parented process(es)", reaped);
    return reaped;
}

std::vector<Orphan> OrphanReaper::find_orphans() const {
    std::vector<Orphan> found;
    const auto& own = own_children();
    DIR* proc = ::opendir("/proc");
    if (!proc) return found;
    while (dirent* e = ::readdir(proc)) {
        const char* name = e->d_name;
        if (name[0] < '1' || name[0] > '9') continue;
        const pid_t pid = static_cast<pid_t>(std::strtol(name, nullptr, 10));
        if (pid == self_ || own.spawn_id_of.contains(pid)) continue;
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
        const std::string stat = read_proc_file(std::string("/proc/") + name + "/stat", 1024);
        const auto close = stat.rfind(')');
        if (close == std::string::npos || close + 4 >= stat.size()) continue;
        const char state = stat[close + 2];
        const pid_t ppid = static_cast<pid_t>(std::strtol(stat.c_str() + close + 4, nullptr, 10));
        if (ppid != self_) continue;
        Orphan o{pid, state == 'Z', std::nullopt};
        if (!o.zombie)
            o.spawn_id = spawn_id_in(read_proc_file(std::string("/proc/") + name + "/environ", 1 << 20));
        found.push_back(o);
    }
    ::closedir(proc);
    return found;
}

std::size_t OrphanReaper::kill_finished(bool all) {
    const auto& own = own_children();
    std::size_t killed = 0;
    std::string pids;
    for (const auto& o : find_orphans()) {
        const bool live = o.spawn_id && own.live_spawn_ids.contains(*o.spawn_id);
        if (!orphan_must_go(o, live, !own.spawn_id_of.empty(), all)) continue;
        if (::kill(o.pid, SIGKILL) != 0) continue;
        ++killed;
        if (pids.size() < 200) pids += (pids.empty() ? "" : " ") + std::to_string(o.pid);
    }
    if (killed > 0)
        log_->warn("Killed {} process(es) left behind by finished runs outside their process group: {}",
                   killed, pids);
    return killed;
}

asio::awaitable<void> OrphanReaper::shutdown(std::chrono::steady_clock::time_point deadline) {
    if (!enabled_) co_return;
    stopping_ = true;
    asio::steady_timer timer(executor_);
    // Killed processes' own children are re-parented to ksid in turn: repeat until nothing is left.
    for (;;) {
        reap_exited();
        const bool killed = kill_finished(true) > 0;
        const bool zombies = !find_orphans().empty();
        if ((!killed && !zombies) || std::chrono::steady_clock::now() >= deadline) break;
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(as_tuple(use_awaitable));
    }
    boost::system::error_code ignored;
    sigchld_.cancel(ignored);
}

} // namespace ksid::daemon
