#pragma once
// SPAWN and GET_PROCESSES (spec §5.1, §5.21, §6): the legacy request checks, turns run through the
// TurnService, and the legacy reply shapes, files and PROCESS_COMPLETE events around them.
#include "daemon/backends/warm/warm_pool.hpp"
#include "daemon/core/events.hpp"
#include "daemon/legacy/command_router.hpp"
#include "daemon/legacy/legacy_turn_errors.hpp"
#include "daemon/services/agent_supervisor.hpp"
#include "daemon/services/module_host.hpp"
#include "daemon/services/turn_service.hpp"

#include <map>

namespace ksid::daemon {

class ProcessCommands {
public:
    ProcessCommands(asio::any_io_executor executor, TurnService& turns, AgentSupervisor& agents,
                    EventSink& events, const config::Config& config, std::shared_ptr<spdlog::logger> log,
                    const WarmPool* pool = nullptr, ModuleHost* modules = nullptr);
    void register_with(CommandRouter& router);

private:
    struct AsyncRun {
        boost::json::value agent_id;
        std::string model;
        boost::json::value session_id; // requested (null when none)
        std::shared_ptr<Job> job;
    };

    asio::awaitable<CommandOutcome> spawn(const protocol::LegacyRequest&, RequestContext&);
    CommandOutcome get_processes(const protocol::LegacyRequest&);
    asio::awaitable<boost::json::object> run_sync(TurnRequest turn);
    asio::awaitable<boost::system::result<std::string, CommandError>> start_async(TurnRequest turn,
                                                                                  boost::json::value agent_id);
    asio::awaitable<void> finish_async(std::string process_id, boost::json::value agent_id,
                                       std::shared_ptr<Job> job);
    void publish_process_error(const std::string& process_id, const boost::json::value& agent_id,
                               const std::string& error);

    asio::any_io_executor executor_;
    TurnService& turns_;
    AgentSupervisor& agents_;
    EventSink& events_;
    const config::Config& config_;
    LegacyTurnLimits limits_;
    std::shared_ptr<spdlog::logger> log_;
    std::map<std::string, AsyncRun> async_runs_;
    const WarmPool* pool_; // warm processes are listed too
    ModuleHost* modules_;  // RELOAD's module sees each output (spec §6.4 step 3, §6.5)
};

} // namespace ksid::daemon
