#include "daemon/legacy/legacy_turn_errors.hpp"

#include "protocol/python_format.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

std::string python_errno_text(int err, const std::string& path) {
    return "[Errno " + std::to_string(err) + "] " + std::strerror(err) + ": '" + path + "'";
}

std::string seconds_text(double v) {
    return v == std::floor(v) ? std::to_string(static_cast<long long>(v)) : protocol::python_float(v);
}

std::string queue_full_text(const LegacyTurnLimits& limits) {
    return "ksid's job queue is full (" + std::to_string(limits.max_concurrent) + " running, " +
           std::to_string(limits.max_pending) + " waiting); try again later";
}

std::string limit_code(errc e) {
    return e == errc::rate_limited ? "RATE_LIMITED" : e == errc::model_not_allowed ? "NOT_ALLOWED" : "KEY_REVOKED";
}

} // namespace

json::object legacy_io_failure_result(int err, const std::string& path) {
    return json::object{{"error", "OSError: " + python_errno_text(err, path)}, {"returncode", -1}};
}

json::object legacy_failure_result(const TurnOutcome& o, const LegacyTurnLimits& limits) {
    json::object out;
    // A process's exit status; -1 for an upstream call that ran, -15 for a run stopped before it started.
    const int returncode = o.process ? o.process->returncode : o.started ? -1 : -15;
    const auto e =
        o.error.category() == ksid_category() ? static_cast<errc>(o.error.value()) : errc::internal;
    switch (e) {
    case errc::claude_not_found:
        out["error"] = "claude executable not found in PATH";
        out["details"] = python_errno_text(ENOENT, limits.claude_command);
        break;
    case errc::spawn_failed:
        out["error"] = std::string("Failed to spawn process: ") +
                       (o.spawn_errno == EACCES || o.spawn_errno == EPERM ? "PermissionError" : "OSError");
        out["details"] = o.spawn_errno ? python_errno_text(o.spawn_errno, limits.claude_command) : o.detail;
        break;
    case errc::timed_out:
        out["error"] = "claude did not finish within the time limit of " +
                       seconds_text(limits.run_time_limit_seconds) + " s (queue.run_time_limit); " +
                       (o.interrupted ? "the turn was interrupted" : "its process group was killed");
        out["returncode"] = returncode;
        break;
    case errc::upstream_timed_out:
        out["error"] = "The upstream API did not answer within " +
                       seconds_text(limits.api_shim_timeout_seconds) + " s (api_shim.timeout)";
        break;
    case errc::output_too_large:
        out["error"] = "claude wrote more than " + std::to_string(limits.max_output_bytes) +
                       " bytes of output (queue.max_output_bytes); its process group was killed";
        out["returncode"] = returncode;
        break;
    case errc::upstream_too_large:
        out["error"] = "The upstream API's response exceeded " + std::to_string(limits.max_output_bytes) +
                       " bytes (queue.max_output_bytes)";
        break;
    case errc::cancelled:
    case errc::shutting_down:
        out["error"] = "The run was cancelled: ksid is shutting down";
        out["returncode"] = returncode;
        break;
    case errc::cancelled_by_admin:
        out["error"] = "The run was cancelled by an administrator (ksid's dashboard)";
        out["returncode"] = returncode;
        break;
    case errc::queue_full:
        out["error"] = queue_full_text(limits);
        out["code"] = "QUEUE_FULL";
        break;
    case errc::upstream_failed:
        out["error"] = "API shim: " + o.detail;
        if (o.upstream_status) out["upstream_status"] = o.upstream_status;
        break;
    case errc::claude_error:
    case errc::no_result:
        out["error"] = o.detail.empty() ? o.error.message() : o.detail;
        break;
    case errc::rate_limited:
    case errc::model_not_allowed:
    case errc::key_revoked:
        out["error"] = o.detail.empty() ? o.error.message() : o.detail;
        out["code"] = limit_code(e);
        if (o.retry_after_ms > 0) out["retry_after"] = (o.retry_after_ms + 999) / 1000;
        break;
    case errc::broker_unavailable:
    case errc::session_unavailable:
    case errc::worker_lost:
        out["error"] = o.detail.empty() ? o.error.message() : o.detail;
        out["code"] = e == errc::broker_unavailable    ? "BROKER_UNAVAILABLE"
                      : e == errc::session_unavailable ? "SESSION_UNAVAILABLE"
                                                       : "WORKER_LOST";
        out["returncode"] = returncode;
        break;
    default:
        out["error"] = "ksid failed to run the turn: " + (o.detail.empty() ? o.error.message() : o.detail);
        break;
    }
    if (o.process && !o.process->stderr_data.empty() && e != errc::queue_full && e != errc::claude_not_found)
        out["stderr"] = std::string(o.process->stderr_data.substr(0, 4096));
    return out;
}

CommandError legacy_submit_error(const boost::system::error_code& error, const LegacyTurnLimits& limits,
                                 const std::string& detail) {
    if (is(error, errc::queue_full)) return CommandError{"QUEUE_FULL", queue_full_text(limits)};
    if (is(error, errc::broker_unavailable))
        return CommandError{"BROKER_UNAVAILABLE", detail.empty() ? error.message() : detail};
    if (is(error, errc::session_unavailable))
        return CommandError{"SESSION_UNAVAILABLE", detail.empty() ? error.message() : detail};
    for (errc e : {errc::rate_limited, errc::model_not_allowed, errc::key_revoked})
        if (is(error, e)) return CommandError{limit_code(e), detail.empty() ? error.message() : detail};
    return CommandError{"SPAWN_FAILED", "Failed to start Claude process"};
}

} // namespace ksid::daemon
