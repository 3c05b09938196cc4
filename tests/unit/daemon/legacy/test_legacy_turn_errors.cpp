#include "daemon/legacy/legacy_turn_errors.hpp"

#include <doctest/doctest.h>

using namespace ksid::daemon;
namespace json = boost::json;

namespace {
TurnOutcome failed(errc e, std::string detail = {}, bool started = true) {
    auto o = TurnOutcome::failure(e, std::move(detail));
    o.started = started;
    return o;
}
TurnOutcome with_process(TurnOutcome o, int returncode, std::string stderr_text = {}) {
    o.process = ProcessOutput{"", std::move(stderr_text), returncode};
    return o;
}
} // namespace

TEST_CASE("legacy map: every turn error's R object") {
    LegacyTurnLimits limits{"claude", 300, 330, 1024, 4, 64};
    struct Row {
        TurnOutcome outcome;
        json::object expected;
    };
    auto spawn_eacces = failed(errc::spawn_failed, "Permission denied");
    spawn_eacces.spawn_errno = EACCES;
    auto upstream = failed(errc::upstream_failed, "the upstream answered 500: boom");
    upstream.upstream_status = 500;
    const std::vector<Row> rows = {
        {failed(errc::claude_not_found),
         {{"error", "claude executable not found in PATH"},
          {"details", "[Errno 2] No such file or directory: 'claude'"}}},
        {spawn_eacces,
         {{"error", "Failed to spawn process: PermissionError"},
          {"details", "[Errno 13] Permission denied: 'claude'"}}},
        {with_process(failed(errc::timed_out), -9, "late"),
         {{"error",
           "claude did not finish within the time limit of 300 s (queue.run_time_limit); its process group "
           "was killed"},
          {"returncode", -9},
          {"stderr", "late"}}},
        {[] {
             auto o = failed(errc::timed_out, "interrupted");
             o.interrupted = true;
             return o;
         }(),
         {{"error", "claude did not finish within the time limit of 300 s (queue.run_time_limit); the turn was "
                    "interrupted"},
          {"returncode", -1}}},
        {failed(errc::upstream_timed_out),
         {{"error", "The upstream API did not answer within 330 s (api_shim.timeout)"}}},
        {with_process(failed(errc::output_too_large), -15),
         {{"error", "claude wrote more than 1024 bytes of output (queue.max_output_bytes); its process group "
                    "was killed"},
          {"returncode", -15}}},
        {failed(errc::upstream_too_large),
         {{"error", "The upstream API's response exceeded 1024 bytes (queue.max_output_bytes)"}}},
        {with_process(failed(errc::shutting_down), -15),
         {{"error", "The run was cancelled: ksid is shutting down"}, {"returncode", -15}}},
        {failed(errc::shutting_down, "", false),
         {{"error", "The run was cancelled: ksid is shutting down"}, {"returncode", -15}}},
        {failed(errc::shutting_down, "cancelled", true),
         {{"error", "The run was cancelled: ksid is shutting down"}, {"returncode", -1}}},
        {failed(errc::queue_full),
         {{"error", "ksid's job queue is full (4 running, 64 waiting); try again later"},
          {"code", "QUEUE_FULL"}}},
        {upstream, {{"error", "API shim: the upstream answered 500: boom"}, {"upstream_status", 500}}},
        {failed(errc::internal, "bad_alloc"), {{"error", "ksid failed to run the turn: bad_alloc"}}},
    };
    for (const auto& row : rows) {
        CAPTURE(row.outcome.error.message());
        CHECK(legacy_failure_result(row.outcome, limits) == row.expected);
    }
}

TEST_CASE("legacy map: async SPAWN refusals and file failures") {
    LegacyTurnLimits limits;
    auto full = legacy_submit_error(errc::queue_full, limits);
    CHECK(full.code == "QUEUE_FULL");
    CHECK(full.message == "ksid's job queue is full (4 running, 64 waiting); try again later");
    auto stopping = legacy_submit_error(errc::shutting_down, limits);
    CHECK(stopping.code == "SPAWN_FAILED");
    CHECK(stopping.message == "Failed to start Claude process");
    CHECK(legacy_io_failure_result(ENOSPC, "claude_logs/s.jsonl") ==
          json::object{{"error", "OSError: [Errno 28] No space left on device: 'claude_logs/s.jsonl'"},
                       {"returncode", -1}});
}
