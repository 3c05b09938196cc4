#pragma once
// The cli backend: one cold `claude` process per turn, with the legacy argv (spec §6.1), the prompt on
// stdin, cwd = the project directory, bounded output and time. cli_json turns keep the process's output
// verbatim; events turns run `--output-format stream-json` and report each line as a turn event.
#include "daemon/turns/turn_backend.hpp"

#include <string>

namespace ksid::daemon {

struct CliBackendSettings {
    std::string claude_command = "claude";
    std::string working_directory; // empty: the daemon's
    std::size_t max_output_bytes = 16u << 20;
    std::chrono::milliseconds kill_grace{3000};
};

class CliBackend final : public TurnBackend {
public:
    explicit CliBackend(CliBackendSettings settings) : settings_(std::move(settings)) {}
    boost::asio::awaitable<TurnOutcome> run(const TurnRequest& request, const TurnEventSink& events,
                                            std::shared_ptr<CancellationToken> cancel) override;
    std::string_view name() const override { return "cli"; }
    // SIGHUP: settings for turns started from now on.
    void set_settings(CliBackendSettings settings) { settings_ = std::move(settings); }

private:
    CliBackendSettings settings_;
};

} // namespace ksid::daemon
