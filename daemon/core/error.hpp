#pragma once
// ksid's one error vocabulary (design "Errors"): every expected failure of a turn or of a request to run
// one is an `errc` in the ksid category, carried as a boost::system::error_code or result<T>. Two pure
// mappers turn it into what a client sees: daemon/legacy/legacy_turn_errors (legacy codes and texts) and
// facade/http_errors (HTTP status, OpenAI error type, retry headers).
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace ksid::daemon {

enum class errc {
    // Refused before it ran.
    queue_full = 1, // the job queue's concurrency and pending limits are reached
    shutting_down,  // ksid is stopping: refused, or stopped before or while it ran
    invalid_model,  // not in models.available, not a claude-* name, not in api_shim.model_map
    tools_disabled, // an HTTP client asked for tools while facade.enable_tools is false
    loop_detected,  // the request already passed through this ksid (X-Ksid-Hop)
    tool_results_mismatch, // tool results that do not answer the calls pending in their process
    rate_limited,          // a tenant's limit (concurrency, per minute, budget) is reached
    model_not_allowed,     // the tenant's key may not use this model
    // The run itself.
    cancelled,          // its requester went away
    claude_not_found,   // the claude executable is not on PATH
    spawn_failed,       // claude could not be started
    timed_out,          // claude ran past queue.run_time_limit; its process group was killed
    output_too_large,   // claude wrote more than queue.max_output_bytes; its process group was killed
    claude_error,       // claude finished with is_error set in its result
    no_result,          // claude ended without a result
    upstream_timed_out, // the API shim's upstream did not answer within api_shim.timeout
    upstream_too_large, // the upstream's answer exceeded queue.max_output_bytes
    upstream_failed,    // the upstream refused or failed (its HTTP status, when it answered, is kept)
    subscription_limited, // the Claude subscription's limit is reached (the CLI said rejected)
    key_revoked,          // the tenant's key was revoked while the turn waited or ran
    cancelled_by_admin,   // an admin stopped it (the dashboard's Cancel, DELETE /admin/turns/{id})
    // Recording a finished turn.
    io_failed, // a session log or convenience file could not be written
    internal,  // a bug: an exception reached a job or connection boundary
    // A broker-backed queue (queue.broker). Last, so that the numbers above stay what they were: fronts
    // and workers of different versions share them through Redis.
    broker_unavailable,  // the Redis broker cannot be reached: the turn was not queued, or its answer lost
    session_unavailable, // the session lives on a worker that is gone (Claude Code keeps it there)
    worker_lost,         // the worker running the turn stopped; it is not run again (it may have used tools)
};

const boost::system::error_category& ksid_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), ksid_category()};
}

// True when `ec` is the ksid error `e`.
inline bool is(const boost::system::error_code& ec, errc e) noexcept {
    return ec.category() == ksid_category() && ec.value() == static_cast<int>(e);
}

template <class T>
using result = boost::system::result<T>;

} // namespace ksid::daemon

template <>
struct boost::system::is_error_code_enum<ksid::daemon::errc> : std::true_type {};
