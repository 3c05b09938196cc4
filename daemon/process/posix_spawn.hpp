#pragma once
// The pieces every child of ksid is started with (design "Children"): close-on-exec pipes, and posix_spawn
// of an argv vector (no shell) in its own process group, with pipes on 0/1/2, every other descriptor
// closed, default signal dispositions and an empty signal mask.
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace ksid::daemon {

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

// 0 on success (pid set), else the errno posix_spawn reported.
int spawn_in_own_group(const std::vector<std::string>& argv, const std::string& cwd, int in_fd, int out_fd,
                       int err_fd, pid_t& pid);

// Opens a pidfd for `pid`; -1 with errno set on failure.
int open_pidfd(pid_t pid);

} // namespace ksid::daemon
