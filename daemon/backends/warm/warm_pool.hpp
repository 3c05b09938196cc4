#pragma once
// The warm-process backend: turns run on pre-started or session-affine `claude --input-format stream-json`
// processes (warm_process.hpp) instead of a cold `claude` each.
//   - A turn without a session takes an idle spare of its key (model, tools, system prompt), which then
//     belongs to the session it starts; a replacement spare is started in the background.
//   - A turn with a session goes to that session's process; with none alive, one is started with
//     --resume=ID and stays warm. Turns of one session run one at a time, in arrival order, never forked.
//   - Bounds: pool.max_processes, pool.memory_budget over the processes' groups (RSS from /proc), least
//     recently used idle processes evicted first; recycling after pool.max_turns, max_age, max_process_rss;
//     idle session processes stopped after pool.idle_ttl.
//   - A process that fails before it produced anything for a turn has that turn run cold, once (not a turn
//     with client tools: a cold claude cannot serve them).
//   - Client tools: a turn that ends with client tool calls leaves its process awaiting the results (at most
//     pool.tool_result_wait, after which the calls fail inside the CLI and the turn ends unheard); the request
//     that brings them continues the turn there.
#include "config/config.hpp"
#include "daemon/backends/warm/warm_process.hpp"
#include "daemon/turns/turn_backend.hpp"

#include <spdlog/logger.h>

#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ksid::daemon {

struct WarmPoolStats {
    std::uint64_t hits = 0;          // turns served by a process that was already running
    std::uint64_t misses = 0;        // turns that had to start their process
    std::uint64_t evictions = 0;     // idle processes stopped for room (count or memory) or after idle_ttl
    std::uint64_t recycles = 0;      // idle processes stopped for their turns, age or memory
    std::uint64_t interrupts = 0;    // turns stopped in band, the process kept
    std::uint64_t kills = 0;         // turns whose process had to be killed
    std::uint64_t cold_retries = 0;  // turns run cold because their process failed first
    std::uint64_t cold_overflow = 0; // turns run cold because no process could be had within the bounds
    std::uint64_t tool_rounds = 0;   // client tool results answered in the process that awaited them
    std::uint64_t tool_replays = 0;  // ... whose process was gone: the conversation was replayed
    std::uint64_t tool_abandons = 0; // turns whose client sent no results within pool.tool_result_wait
};

struct WarmProcessInfo {
    pid_t pid;
    std::string model;
    std::optional<std::string> session;
    std::string state; // idle, busy, spare
    std::size_t rss_bytes;
    unsigned turns;
};

class WarmPool final : public TurnBackend {
public:
    // cold: where a turn runs when no warm process can serve it (the cli backend).
    WarmPool(asio::any_io_executor executor, const config::Config& config, TurnBackend& cold,
             std::shared_ptr<spdlog::logger> log);

    // Starts the maintenance loop and, with pool.prestart, a spare for `key`.
    void start(const WarmKey& prestart);
    asio::awaitable<TurnOutcome> run(const TurnRequest& request, const TurnEventSink& events,
                                     std::shared_ptr<CancellationToken> cancel) override;
    std::string_view name() const override { return "warm"; }

    const WarmPoolStats& stats() const { return stats_; }
    std::vector<WarmProcessInfo> processes() const;
    std::size_t total_rss_bytes() const;
    // Stops every process (SIGTERM, SIGKILL after `grace`) and waits for them until `deadline`.
    asio::awaitable<void> shutdown(std::chrono::milliseconds grace, std::chrono::steady_clock::time_point deadline);

private:
    struct SessionQueue; // turns of one session, in arrival order
    std::shared_ptr<WarmProcess> take_spare(const WarmKey& key);
    std::shared_ptr<WarmProcess> find_session(const std::string& session);
    std::shared_ptr<WarmProcess> find_awaiting(const std::vector<protocol::ClientToolResult>& results);
    void settle(const std::shared_ptr<WarmProcess>& process, const TurnOutcome& outcome);
    void abandon_tool_calls(const std::shared_ptr<WarmProcess>& process);
    std::shared_ptr<WarmProcess> launch(const WarmKey& key, std::optional<std::string> resume);
    bool make_room(std::size_t extra_processes);
    void retire(const std::shared_ptr<WarmProcess>& p, std::uint64_t& counter, const char* why);
    void replenish();
    void note_key(const WarmKey& key);
    asio::awaitable<void> maintain();
    void sweep();

    asio::any_io_executor executor_;
    const config::Config& config_;
    TurnBackend& cold_;
    std::shared_ptr<spdlog::logger> log_;
    WarmTurnLimits limits_;
    std::vector<std::shared_ptr<WarmProcess>> processes_; // live (or stopping) processes
    std::map<std::string, std::shared_ptr<SessionQueue>> sessions_;
    std::vector<std::pair<WarmKey, std::chrono::steady_clock::time_point>> recent_keys_;
    WarmPoolStats stats_;
    asio::steady_timer maintenance_;
    bool stopping_ = false;
};

} // namespace ksid::daemon
