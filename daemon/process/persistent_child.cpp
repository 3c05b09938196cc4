#include "daemon/process/persistent_child.hpp"

#include "daemon/process/posix_spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace ksid::daemon {

using asio::as_tuple;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

struct PersistentChild::Private {};

struct PersistentChild::Pipes {
    explicit Pipes(asio::any_io_executor ex) : stdin_(ex), stdout_(ex), stderr_(ex), pidfd(ex), wake(ex) {}
    asio::posix::stream_descriptor stdin_, stdout_, stderr_, pidfd;
    asio::steady_timer wake; // the supervisor's: stop() and kill deadlines
};

PersistentChild::PersistentChild(Private, asio::any_io_executor executor, std::size_t stderr_tail_bytes)
    : io_(std::make_unique<Pipes>(executor)), stderr_limit_(stderr_tail_bytes), exit_signal_(executor) {}

PersistentChild::~PersistentChild() {
    if (pid_ > 0 && !exited_) { // never leave a child behind (the supervisor holds us while it runs)
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        child_reaped(pid_);
    }
}

std::shared_ptr<PersistentChild> PersistentChild::start(asio::any_io_executor executor,
                                                        const PersistentChildSpec& spec,
                                                        OutputHandler on_stdout,
                                                        std::function<void()> on_exit, int& error) {
    Pipe in, out, err;
    if (!make_pipe(in) || !make_pipe(out) || !make_pipe(err)) {
        error = errno;
        return nullptr;
    }
    pid_t pid = -1;
    if (int rc = spawn_in_own_group(spec.argv, spec.cwd, in.read.fd, out.write.fd, err.write.fd, pid);
        rc != 0) {
        error = rc;
        return nullptr;
    }
    const int pidfd = open_pidfd(pid);
    if (pidfd < 0) { // cannot happen on Linux >= 5.3; never leave the child behind
        error = errno;
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        child_reaped(pid);
        return nullptr;
    }
    auto child = std::make_shared<PersistentChild>(Private{}, executor, spec.stderr_tail_bytes);
    child->pid_ = pid;
    child->on_stdout_ = std::move(on_stdout);
    child->on_exit_ = std::move(on_exit);
    child->io_->stdin_.assign(in.write.release());
    child->io_->stdout_.assign(out.read.release());
    child->io_->stderr_.assign(err.read.release());
    child->io_->pidfd.assign(pidfd);
    asio::co_spawn(executor, child->supervise(), asio::detached);
    return child;
}

bool PersistentChild::write(std::string data) {
    if (exited_ || !io_->stdin_.is_open()) return false;
    queued_bytes_ += data.size();
    queued_.push_back(std::move(data));
    if (!writing_) asio::co_spawn(io_->stdin_.get_executor(), write_queued(), asio::detached);
    writing_ = true;
    return true;
}

asio::awaitable<void> PersistentChild::write_queued() {
    auto self = shared_from_this();
    while (!queued_.empty()) {
        const std::string data = std::move(queued_.front());
        queued_.pop_front();
        auto [ec, n] = co_await asio::async_write(io_->stdin_, asio::buffer(data), as_tuple(use_awaitable));
        queued_bytes_ -= data.size();
        if (ec) { // the child closed stdin or exited: nothing more can be written
            queued_.clear();
            queued_bytes_ = 0;
            boost::system::error_code ignored;
            io_->stdin_.close(ignored);
        }
    }
    writing_ = false;
}

void PersistentChild::stop(std::chrono::milliseconds grace) {
    if (exited_) return;
    const auto at = Clock::now() + grace;
    if (stopping_ && at >= kill_at_) return;
    if (!stopping_) ::kill(-pid_, SIGTERM);
    stopping_ = true;
    kill_at_ = at;
    io_->wake.cancel();
}

asio::awaitable<void> PersistentChild::wait_exit(Clock::time_point deadline) {
    while (!exited_ && Clock::now() < deadline)
        co_await exit_signal_.wait_until(deadline);
}

asio::awaitable<void> PersistentChild::supervise() {
    auto self = shared_from_this();
    co_await (read_stdout() && read_stderr() && watch_exit());
}

asio::awaitable<void> PersistentChild::read_stdout() {
    char buf[16 * 1024];
    for (;;) {
        auto [ec, n] = co_await io_->stdout_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
        if (n > 0 && on_stdout_) on_stdout_(std::string_view(buf, n));
        if (ec) break;
    }
    ++readers_done_;
    io_->wake.cancel();
}

asio::awaitable<void> PersistentChild::read_stderr() {
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await io_->stderr_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
        if (n > 0) { // keep the last stderr_limit_ bytes
            stderr_tail_.append(buf, n);
            if (stderr_tail_.size() > stderr_limit_)
                stderr_tail_.erase(0, stderr_tail_.size() - stderr_limit_);
        }
        if (ec) break;
    }
    ++readers_done_;
    io_->wake.cancel();
}

asio::awaitable<void> PersistentChild::watch_exit() {
    bool killed = false;
    for (;;) {
        pollfd p{io_->pidfd.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 0) == 1) break;
        io_->wake.expires_at(stopping_ ? (killed ? Clock::now() + std::chrono::seconds(1) : kill_at_)
                                       : Clock::time_point::max());
        co_await (io_->pidfd.async_wait(asio::posix::stream_descriptor::wait_read, as_tuple(use_awaitable)) ||
                  io_->wake.async_wait(as_tuple(use_awaitable)));
        if (stopping_ && !killed && Clock::now() >= kill_at_) {
            ::kill(-pid_, SIGKILL);
            killed = true;
        }
    }
    // The leader is gone but not reaped: its group id is still reserved, so killing the group cannot hit
    // anyone else. Whatever it left running goes too; then it is reaped.
    ::kill(-pid_, SIGKILL);
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(3) /* P_PIDFD */, static_cast<id_t>(io_->pidfd.native_handle()),
                    &info, WEXITED) != 0 &&
           errno == EINTR) {
    }
    child_reaped(pid_);
    returncode_ = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    exited_ = true;
    boost::system::error_code ignored;
    io_->pidfd.close(ignored);
    io_->stdin_.close(ignored);
    // The readers take what is left in the pipes (the owner sees all output before the exit); a descendant
    // that escaped the group and kept them open must not keep them forever.
    const auto drain_deadline = Clock::now() + std::chrono::milliseconds(500);
    while (readers_done_ < 2 && Clock::now() < drain_deadline) {
        io_->wake.expires_at(drain_deadline);
        co_await io_->wake.async_wait(as_tuple(use_awaitable));
    }
    io_->stdout_.close(ignored);
    io_->stderr_.close(ignored);
    exit_signal_.notify();
    if (on_exit_) on_exit_();
}

std::map<pid_t, std::size_t> resident_memory_by_group() {
    // /proc/<pid>/stat: field 5 is the process group, field 24 the resident pages.
    std::map<pid_t, std::size_t> pages;
    DIR* proc = ::opendir("/proc");
    if (!proc) return pages;
    while (dirent* e = ::readdir(proc)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        const auto close = line.rfind(')'); // the command name may hold spaces and parentheses
        if (close == std::string::npos || close + 2 > line.size()) continue;
        std::istringstream fields(line.substr(close + 2));
        std::string f;
        long pgrp = 0;
        for (int i = 3; fields >> f; ++i) {
            if (i == 5) pgrp = std::atol(f.c_str());
            if (i == 24) {
                pages[static_cast<pid_t>(pgrp)] += static_cast<std::size_t>(std::atol(f.c_str()));
                break;
            }
        }
    }
    ::closedir(proc);
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (auto& [group, n] : pages)
        n *= page;
    return pages;
}

} // namespace ksid::daemon
