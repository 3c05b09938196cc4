#include "daemon/claude/cli_backend.hpp"

#include <cstring>

namespace ksid::daemon {

boost::asio::awaitable<TurnResult> CliBackend::run(const TurnRequest& request,
                                                   std::shared_ptr<ChildControl> control) {
    protocol::ClaudeInvocation inv;
    inv.model = request.model;
    inv.resume_session = request.resume_session;
    inv.enable_tools = request.enable_tools;
    inv.format = request.format;
    inv.append_system_prompt = request.append_system_prompt;
    ChildSpec spec;
    spec.argv = protocol::build_claude_argv(settings_.claude_command, inv);
    spec.cwd = settings_.working_directory;
    spec.stdin_data = request.prompt;
    spec.max_output_bytes = settings_.max_output_bytes;
    spec.time_limit = request.time_limit;
    spec.kill_grace = settings_.kill_grace;
    spec.on_stdout = request.on_output;

    ChildOutcome out = co_await run_child(std::move(spec), std::move(control));
    TurnResult r;
    r.stdout_data = std::move(out.stdout_data);
    r.stderr_data = std::move(out.stderr_data);
    r.returncode = out.returncode();
    using S = ChildOutcome::Status;
    switch (out.status) {
    case S::exited:
    case S::signaled:
        r.status = TurnResult::Status::completed;
        break;
    case S::spawn_failed:
        r.spawn_errno = out.spawn_errno;
        r.status =
            out.spawn_errno == ENOENT ? TurnResult::Status::not_found : TurnResult::Status::spawn_failed;
        r.detail = std::strerror(out.spawn_errno);
        break;
    case S::timed_out:
        r.status = TurnResult::Status::timed_out;
        r.detail = "killed after " + std::to_string(request.time_limit.count() / 1000.0).substr(0, 6) + " s";
        break;
    case S::output_too_large:
        r.status = TurnResult::Status::output_too_large;
        r.detail = "output exceeded " + std::to_string(settings_.max_output_bytes) + " bytes";
        break;
    case S::cancelled:
        r.status = TurnResult::Status::cancelled;
        break;
    }
    co_return r;
}

} // namespace ksid::daemon
