#include "daemon/core/error.hpp"

namespace ksid::daemon {

namespace {

class KsidCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "ksid"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::queue_full:
            return "the job queue is full";
        case errc::shutting_down:
            return "ksid is shutting down";
        case errc::invalid_model:
            return "unknown model";
        case errc::tools_disabled:
            return "tools are disabled for HTTP clients";
        case errc::loop_detected:
            return "the request loops through this ksid";
        case errc::tool_results_mismatch:
            return "the tool results do not answer the pending tool calls";
        case errc::rate_limited:
            return "a rate limit or budget is reached";
        case errc::model_not_allowed:
            return "the key may not use this model";
        case errc::subscription_limited:
            return "the Claude subscription's usage limit is reached";
        case errc::key_revoked:
            return "the API key was revoked";
        case errc::cancelled_by_admin:
            return "an administrator cancelled the turn";
        case errc::cancelled:
            return "the requester went away";
        case errc::claude_not_found:
            return "the claude executable was not found";
        case errc::spawn_failed:
            return "claude could not be started";
        case errc::timed_out:
            return "the run exceeded its time limit";
        case errc::output_too_large:
            return "the run's output exceeded its limit";
        case errc::claude_error:
            return "claude reported an error";
        case errc::no_result:
            return "claude ended without a result";
        case errc::upstream_timed_out:
            return "the upstream did not answer in time";
        case errc::upstream_too_large:
            return "the upstream's answer exceeded the output limit";
        case errc::upstream_failed:
            return "the upstream failed";
        case errc::io_failed:
            return "a log or state file could not be written";
        case errc::internal:
            return "internal error";
        case errc::broker_unavailable:
            return "the queue's Redis broker cannot be reached";
        case errc::session_unavailable:
            return "the session lives on a worker that is gone";
        case errc::worker_lost:
            return "the worker running the turn stopped";
        }
        return "unknown ksid error";
    }
};

} // namespace

const boost::system::error_category& ksid_category() noexcept {
    static const KsidCategory category;
    return category;
}

} // namespace ksid::daemon
