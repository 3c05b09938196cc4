#pragma once
// The pieces every child of ksid is started with (design "Children"): close-on-exec pipes, and posix_spawn
// of an argv vector (no shell) in its own process group, with pipes on 0/1/2, every other descriptor
// closed, default signal dispositions and an empty signal mask.
#include <cstdint>
#include <functional>
#include <spawn.h>
#include <string>
#include <sys/types.h>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ksid::daemon {

// ksid's own children (the event loop's thread only). Every child started by spawn_in_own_group is
// listed until it is reaped, with its spawn id; the child and everything it starts carry that id in
// KSID_SPAWN_ID=<id> in their environment, so the orphan reaper (orphan_reaper.hpp) can tell which run a
// process that escaped the run's process group (setsid) belongs to, and whether that run has ended.
struct OwnChildren {
    std::unordered_map<pid_t, std::uint64_t> spawn_id_of; // live (not yet reaped) children
    std::unordered_set<std::uint64_t> live_spawn_ids;
    std::uint64_t next_spawn_id = 1;
    std::function<void()> on_reaped; // after one was reaped: the orphan reaper looks for what it left
};
OwnChildren& own_children();
// Call right after waitpid/waitid reaped `pid` (a child spawn_in_own_group started).
void child_reaped(pid_t pid);
// Lists a child just spawned among ksid's own, under `spawn_id` (from own_children().next_spawn_id++), so
// that the orphan reaper neither reaps nor kills it. spawn_in_own_group does it for its children.
void list_own_child(pid_t pid, std::uint64_t spawn_id);

// The attributes every child of ksid is spawned with: its own process group, default signal dispositions
// (SIGPIPE is ignored in the daemon, not in children), an empty signal mask. `attr` is initialised here.
void init_child_spawn_attributes(posix_spawnattr_t& attr);

// An owned file descriptor.
struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        reset();
        fd = std::exchange(o.fd, -1);
        return *this;
    }
    ~Fd() { reset(); }
    void reset();
    int release() { return std::exchange(fd, -1); }
};

struct Pipe {
    Fd read, write;
};

// pipe2(O_CLOEXEC); false with errno set on failure.
bool make_pipe(Pipe& p);

// 0 on success (pid set, and listed in own_children()), else the errno posix_spawn reported.
int spawn_in_own_group(const std::vector<std::string>& argv, const std::string& cwd, int in_fd, int out_fd,
                       int err_fd, pid_t& pid);

// Opens a pidfd for `pid`; -1 with errno set on failure.
int open_pidfd(pid_t pid);

} // namespace ksid::daemon
