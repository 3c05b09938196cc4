#pragma once
// The legacy side of ksid's error vocabulary, pure: how a turn that failed looks to a socket client.
// A sync SPAWN answers `status: "success"` with the failure in its result object R (spec §6.4); an async
// SPAWN that cannot be queued answers the error envelope; PROCESS_COMPLETE carries R's error text.
#include "daemon/legacy/command_types.hpp"
#include "daemon/turns/turn_outcome.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <string>

namespace ksid::daemon {

// The settings the texts name.
struct LegacyTurnLimits {
    std::string claude_command = "claude";
    double run_time_limit_seconds = 300;
    double api_shim_timeout_seconds = 330;
    std::size_t max_output_bytes = 16u << 20;
    std::size_t max_concurrent = 4;
    std::size_t max_pending = 64;
};

// R for a turn that failed: "error", plus "details", "returncode", "stderr", "code" and "upstream_status"
// where they apply.
boost::json::object legacy_failure_result(const TurnOutcome& outcome, const LegacyTurnLimits& limits);

// The error envelope for an async SPAWN that could not be queued (QUEUE_FULL, or SPAWN_FAILED).
// detail: what a tenant limit said (rate_limited, model_not_allowed, key_revoked).
CommandError legacy_submit_error(const boost::system::error_code& error, const LegacyTurnLimits& limits,
                                 const std::string& detail = {});

// R for a sync SPAWN whose files could not be written: {"error": "OSError: [Errno N] ...: 'path'",
// "returncode": -1}.
boost::json::object legacy_io_failure_result(int err, const std::string& path);

} // namespace ksid::daemon
