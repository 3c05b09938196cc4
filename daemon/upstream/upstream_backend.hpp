#pragma once
// The API shim backend: a turn becomes one call to an upstream OpenAI-compatible API (typically another
// ksid's facade) and its answer is translated back into what the `claude` CLI prints. Retries only where
// the upstream provably did nothing (could not connect; 429; 503 before any body), never after a request
// may have run. Falls back to the cli backend when the upstream is unreachable, if configured.
#include "config/config.hpp"
#include "daemon/claude/claude_backend.hpp"
#include "daemon/upstream/upstream_client.hpp"
#include "daemon/upstream/upstream_stats.hpp"

#include <spdlog/logger.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

class UpstreamBackend final : public ClaudeBackend {
public:
    // fallback: the cli backend, used when the upstream is unreachable and api_shim.fallback_to_direct is
    // set.
    UpstreamBackend(asio::any_io_executor executor, const config::ApiShimSettings& settings,
                    std::size_t max_output_bytes, ClaudeBackend* fallback,
                    std::shared_ptr<spdlog::logger> log);

    std::optional<std::string>
    init(); // an error text when the upstream cannot be used (bad URL, trust store)
    asio::awaitable<TurnResult> run(const TurnRequest& request,
                                    std::shared_ptr<ChildControl> control) override;
    std::string_view name() const override { return "api_shim"; }
    const UpstreamStats& stats() const { return stats_; }
    void close_idle() {
        if (client_) client_->close_idle();
    }

private:
    struct CallResult;
    asio::awaitable<CallResult> call(const TurnRequest& request, ChildControl& control);
    asio::awaitable<bool> sleep(std::chrono::milliseconds delay, ChildControl& control);
    std::chrono::milliseconds backoff(unsigned attempt);

    asio::any_io_executor executor_;
    const config::ApiShimSettings& settings_;
    std::size_t max_output_bytes_;
    ClaudeBackend* fallback_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<UpstreamClient> client_;
    UpstreamStats stats_;
};

} // namespace ksid::daemon
