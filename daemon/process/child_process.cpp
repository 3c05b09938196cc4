#include "daemon/process/child_process.hpp"

#include "daemon/process/posix_spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>


namespace ksid::daemon {

using asio::as_tuple;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

std::string find_executable(const std::string& command) {
    auto executable = [](const std::string& p) {
        struct stat st{};
        return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
    };
    if (command.find('/') != std::string::npos) return executable(command) ? command : std::string();
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        auto end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(start, end - start);
        if (dir.empty()) dir = ".";
        const std::string candidate = dir + "/" + command;
        if (executable(candidate)) return candidate;
        start = end + 1;
    }
    return {};
}

// The state of one run, shared by its concurrent parts (stdin writer, two readers, supervisor).
class ChildRun {
public:
    ChildRun(asio::any_io_executor ex, ChildSpec spec, std::shared_ptr<CancellationToken> control)
        : spec_(std::move(spec)), control_(std::move(control)), stdin_(ex), stdout_(ex), stderr_(ex), pidfd_(ex),
          wake_(ex) {}

    asio::awaitable<ChildOutcome> run() {
        const auto started = Clock::now();
        Pipe in, out, err;
        if (!make_pipe(in) || !make_pipe(out) || !make_pipe(err)) {
            outcome_.status = ChildOutcome::Status::spawn_failed;
            outcome_.spawn_errno = errno;
            co_return std::move(outcome_);
        }
        if (control_ && control_->cancelled()) {
            outcome_.status = ChildOutcome::Status::cancelled;
            co_return std::move(outcome_);
        }
        pid_t pid = -1;
        if (int rc = spawn_in_own_group(spec_.argv, spec_.cwd, in.read.fd, out.write.fd, err.write.fd, pid); rc != 0) {
            outcome_.status = ChildOutcome::Status::spawn_failed;
            outcome_.spawn_errno = rc;
            co_return std::move(outcome_);
        }
        pid_ = pid;
        outcome_.pid = pid;
        const int pidfd = open_pidfd(pid);
        if (pidfd < 0) { // cannot happen on Linux >= 5.3; never leave the child behind
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            child_reaped(pid);
            outcome_.status = ChildOutcome::Status::spawn_failed;
            outcome_.spawn_errno = errno;
            co_return std::move(outcome_);
        }
        in.read.reset();
        out.write.reset();
        err.write.reset();
        stdin_.assign(in.write.release());
        stdout_.assign(out.read.release());
        stderr_.assign(err.read.release());
        pidfd_.assign(pidfd);
        if (control_) control_->set_cancel_handler([this] { stop(ChildOutcome::Status::cancelled); });

        co_await (write_stdin() && read_output(stdout_, outcome_.stdout_data, true) &&
                  read_output(stderr_, outcome_.stderr_data, false) && supervise());

        if (control_) control_->set_cancel_handler(nullptr);
        outcome_.duration = Clock::now() - started;
        co_return std::move(outcome_);
    }

private:
    // Asks the child to stop: SIGTERM to the group now, SIGKILL after the grace (see supervise()).
    void stop(ChildOutcome::Status why) {
        if (stopping_ || exited_) return;
        stopping_ = true;
        stop_reason_ = why;
        auto grace = spec_.kill_grace;
        if (control_ && control_->grace()) grace = std::min(grace, *control_->grace());
        kill_at_ = Clock::now() + grace;
        ::kill(-pid_, SIGTERM);
        wake_.cancel();
    }

    asio::awaitable<void> write_stdin() {
        if (!spec_.stdin_data.empty())
            co_await asio::async_write(stdin_, asio::buffer(spec_.stdin_data), as_tuple(use_awaitable));
        boost::system::error_code ignored;
        stdin_.close(ignored); // EOF for the child (a child that never reads gets EPIPE'd writes: fine)
    }

    asio::awaitable<void> read_output(asio::posix::stream_descriptor& pipe, std::string& sink, bool is_stdout) {
        char buf[16 * 1024];
        for (;;) {
            auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
            if (n > 0) {
                total_output_ += n;
                if (total_output_ > spec_.max_output_bytes) {
                    if (spec_.kill_on_output_limit) stop(ChildOutcome::Status::output_too_large);
                } else {
                    sink.append(buf, n);
                    if (is_stdout && spec_.on_stdout) spec_.on_stdout(std::string_view(buf, n));
                }
            }
            if (ec) break; // EOF, or closed by the supervisor
        }
        ++readers_done_;
        wake_.cancel();
    }

    // Waits for the pidfd to become readable (the child exited), or for the next deadline.
    asio::awaitable<bool> wait_exit_until(Clock::time_point deadline) {
        pollfd p{pidfd_.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 0) == 1) co_return true; // already gone: an edge-triggered wait would miss it
        wake_.expires_at(deadline);
        co_await (pidfd_.async_wait(asio::posix::stream_descriptor::wait_read, as_tuple(use_awaitable)) ||
                  wake_.async_wait(as_tuple(use_awaitable)));
        // Whichever branch woke us (a wait can also end with an error code), only the pidfd itself says
        // whether the child has exited.
        co_return ::poll(&p, 1, 0) == 1;
    }

    asio::awaitable<void> supervise() {
        const Clock::time_point deadline = Clock::now() + spec_.time_limit;
        bool killed = false;
        auto next_wake = [&] {
            if (!stopping_) return deadline;
            if (!killed) return kill_at_;
            return Clock::now() + std::chrono::seconds(1); // SIGKILLed: only the exit is left to see
        };
        while (!co_await wait_exit_until(next_wake())) {
            const auto now = Clock::now();
            if (!stopping_ && now >= deadline) stop(ChildOutcome::Status::timed_out);
            if (stopping_ && !killed && now >= kill_at_) {
                ::kill(-pid_, SIGKILL);
                killed = true;
            }
        }
        exited_ = true;
        // The leader is gone but not reaped: its group id is still reserved, so killing the group cannot
        // hit anyone else. Whatever it left running goes too.
        ::kill(-pid_, SIGKILL);
        siginfo_t info{};
        while (::waitid(static_cast<idtype_t>(3) /* P_PIDFD */, static_cast<id_t>(pidfd_.native_handle()), &info,
                        WEXITED) != 0 &&
               errno == EINTR) {
        }
        child_reaped(pid_);
        boost::system::error_code ignored;
        pidfd_.close(ignored);
        if (stopping_) {
            outcome_.status = stop_reason_;
            outcome_.term_signal = info.si_code == CLD_EXITED ? 0 : info.si_status;
            if (info.si_code == CLD_EXITED) outcome_.exit_code = info.si_status;
        } else if (info.si_code == CLD_EXITED) {
            outcome_.status = ChildOutcome::Status::exited;
            outcome_.exit_code = info.si_status;
        } else {
            outcome_.status = ChildOutcome::Status::signaled;
            outcome_.term_signal = info.si_status;
        }
        // Let the readers take what is left in the pipes; a descendant that escaped the group and kept
        // them open must not hold the run forever.
        const auto drain_deadline = Clock::now() + std::chrono::milliseconds(500);
        while (readers_done_ < 2 && Clock::now() < drain_deadline) {
            wake_.expires_at(drain_deadline);
            co_await wake_.async_wait(as_tuple(use_awaitable));
        }
        stdout_.close(ignored);
        stderr_.close(ignored);
        stdin_.close(ignored);
    }

    ChildSpec spec_;
    std::shared_ptr<CancellationToken> control_;
    asio::posix::stream_descriptor stdin_, stdout_, stderr_, pidfd_;
    asio::steady_timer wake_;
    ChildOutcome outcome_;
    pid_t pid_ = -1;
    std::size_t total_output_ = 0;
    int readers_done_ = 0;
    bool stopping_ = false;
    bool exited_ = false;
    ChildOutcome::Status stop_reason_ = ChildOutcome::Status::cancelled;
    Clock::time_point kill_at_{};
};

asio::awaitable<ChildOutcome> run_child(ChildSpec spec, std::shared_ptr<CancellationToken> control) {
    auto ex = co_await asio::this_coro::executor;
    ChildRun run(ex, std::move(spec), std::move(control));
    co_return co_await run.run();
}

} // namespace ksid::daemon
