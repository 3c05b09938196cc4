#pragma once
// Agent processes started by SPAWN_AGENT (spec §5.6, §7.5): each in its own process group, listed by
// GET_PROCESSES, AGENT_TERMINATED published when one exits, and all of them stopped at shutdown
// (SIGTERM, grace, SIGKILL).
#include "config/config.hpp"
#include "daemon/core/events.hpp"
#include "daemon/process/child_process.hpp"

#include <boost/json/object.hpp>

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

class AgentSupervisor {
public:
    AgentSupervisor(asio::any_io_executor executor, const config::Config& config, EventSink& events,
                    std::shared_ptr<spdlog::logger> log);

    // Starts the agent command; the process id, or nullopt when it cannot be started (or full()).
    std::optional<std::string> start(const std::string& agent_id, const std::string& profile);

    // Agent processes running now, and whether that is daemon.max_agent_processes (start() would be refused).
    std::size_t running() const { return agents_.size(); }
    bool full() const { return agents_.size() >= config_.daemon.max_agent_processes; }

    // GET_PROCESSES entries: {process_id: {agent_id, model: null, started_at, session_id: null, type, ...}}.
    void add_process_entries(boost::json::object& table) const;

    // Shutdown: SIGTERM → grace → SIGKILL to every agent process, and wait for them until `deadline`.
    asio::awaitable<void> shutdown(std::chrono::milliseconds grace, std::chrono::steady_clock::time_point deadline);

private:
    struct Agent {
        std::string agent_id;
        std::string profile;
        std::string started_at;
        std::shared_ptr<CancellationToken> control;
    };
    asio::awaitable<void> watch(std::string process_id, ChildSpec spec, std::shared_ptr<CancellationToken> control);

    asio::any_io_executor executor_;
    const config::Config& config_;
    EventSink& events_;
    std::shared_ptr<spdlog::logger> log_;
    std::map<std::string, Agent> agents_;
    bool stopping_ = false;
    std::unique_ptr<class AsyncSignal> all_exited_;
};

} // namespace ksid::daemon
