#include "daemon/process/posix_spawn.hpp"

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char** environ;

namespace ksid::daemon {

OwnChildren& own_children() {
    static OwnChildren children;
    return children;
}

void child_reaped(pid_t pid) {
    auto& own = own_children();
    auto it = own.spawn_id_of.find(pid);
    if (it == own.spawn_id_of.end()) return;
    own.live_spawn_ids.erase(it->second);
    own.spawn_id_of.erase(it);
    if (own.on_reaped) own.on_reaped();
}

void Fd::reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

bool make_pipe(Pipe& p) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    p.read = Fd(fds[0]);
    p.write = Fd(fds[1]);
    return true;
}

void list_own_child(pid_t pid, std::uint64_t spawn_id) {
    auto& own = own_children();
    own.spawn_id_of[pid] = spawn_id;
    own.live_spawn_ids.insert(spawn_id);
}

void init_child_spawn_attributes(posix_spawnattr_t& attr) {
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
}

int spawn_in_own_group(const std::vector<std::string>& args, const std::string& cwd, int in_fd, int out_fd,
                       int err_fd, pid_t& pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    init_child_spawn_attributes(attr);
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    auto& own = own_children();
    const std::uint64_t spawn_id = own.next_spawn_id++;
    const std::string marker = "KSID_SPAWN_ID=" + std::to_string(spawn_id);
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "KSID_SPAWN_ID=", 14) != 0) envp.push_back(*e);
    envp.push_back(const_cast<char*>(marker.c_str()));
    envp.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc == 0) list_own_child(pid, spawn_id);
    return rc;
}

int open_pidfd(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

} // namespace ksid::daemon
