#pragma once
// SPAWN and GET_PROCESSES (spec §5.1, §5.21, §6).
#include "daemon/agents/agent_supervisor.hpp"
#include "daemon/claude/claude_process_manager.hpp"
#include "daemon/command_router.hpp"

namespace ksid::daemon {

class ProcessCommands {
public:
    ProcessCommands(ClaudeProcessManager& manager, AgentSupervisor& agents, const config::Config& config)
        : manager_(manager), agents_(agents), config_(config) {}
    void register_with(CommandRouter& router);

private:
    asio::awaitable<CommandOutcome> spawn(const protocol::LegacyRequest&, RequestContext&);
    CommandOutcome get_processes(const protocol::LegacyRequest&);

    ClaudeProcessManager& manager_;
    AgentSupervisor& agents_;
    const config::Config& config_;
};

} // namespace ksid::daemon
