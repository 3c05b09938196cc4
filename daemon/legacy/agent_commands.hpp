#pragma once
// REGISTER_AGENT, GET_AGENTS, ROUTE_TASK, SPAWN_AGENT (spec §5.4-5.7).
#include "daemon/services/agent_supervisor.hpp"
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/composition_library.hpp"
#include "daemon/services/registries.hpp"

#include <spdlog/logger.h>

namespace ksid::daemon {

class AgentCommands {
public:
    AgentCommands(AgentRegistry& agents, CompositionLibrary& compositions, AgentSupervisor& supervisor,
                  std::shared_ptr<spdlog::logger> log)
        : agents_(agents), compositions_(compositions), supervisor_(supervisor), log_(std::move(log)) {}
    void register_with(CommandRouter& router);

private:
    CommandOutcome register_agent(const protocol::LegacyRequest&);
    CommandOutcome route_task(const protocol::LegacyRequest&);
    CommandOutcome spawn_agent(const protocol::LegacyRequest&);

    AgentRegistry& agents_;
    CompositionLibrary& compositions_;
    AgentSupervisor& supervisor_;
    std::shared_ptr<spdlog::logger> log_;
};

} // namespace ksid::daemon
