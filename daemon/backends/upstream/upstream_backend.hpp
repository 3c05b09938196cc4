#pragma once
// The API shim backend: a turn becomes one call to an upstream API (typically another ksid's facade) in the
// wire format of api_shim.provider, OpenAI Chat Completions or Anthropic Messages (protocol/upstream_format
// picks it); its SSE events become turn events and its answer the turn's answer (a ksid upstream's own CLI
// result object, or one built from the completion or message). Retries only where the upstream provably did
// nothing (protocol/upstream_retry), never after a request may have run. Falls back to the cli backend
// when the upstream is unreachable, if configured.
#include "config/config.hpp"
#include "daemon/backends/upstream/upstream_client.hpp"
#include "daemon/backends/upstream/upstream_stats.hpp"
#include "daemon/turns/turn_backend.hpp"

#include <spdlog/logger.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

class UpstreamBackend final : public TurnBackend {
public:
    // fallback: the cli backend, used when the upstream is unreachable and api_shim.fallback_to_direct is
    // set.
    UpstreamBackend(asio::any_io_executor executor, const config::ApiShimSettings& settings,
                    std::size_t max_output_bytes, TurnBackend* fallback, std::shared_ptr<spdlog::logger> log);

    std::optional<std::string>
    init(); // an error text when the upstream cannot be used (bad URL, trust store)
    asio::awaitable<TurnOutcome> run(const TurnRequest& request, const TurnEventSink& events,
                                     std::shared_ptr<CancellationToken> cancel) override;
    std::string_view name() const override { return "api_shim"; }
    const UpstreamStats& stats() const { return stats_; }
    // SIGHUP: queue.max_output_bytes for calls started from now on (the rest of api_shim.* is read per call).
    void set_max_output_bytes(std::size_t bytes) { max_output_bytes_ = bytes; }
    void close_idle() {
        if (client_) client_->close_idle();
    }

private:
    struct CallResult;
    asio::awaitable<CallResult> call(const TurnRequest& request, const TurnEventSink& events,
                                     CancellationToken& cancel);
    asio::awaitable<bool> sleep(std::chrono::milliseconds delay, CancellationToken& cancel);

    asio::any_io_executor executor_;
    const config::ApiShimSettings& settings_;
    std::size_t max_output_bytes_;
    TurnBackend* fallback_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<UpstreamClient> client_;
    UpstreamStats stats_;
};

} // namespace ksid::daemon
