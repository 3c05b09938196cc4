#pragma once
// SET_SHARED, GET_SHARED and LOAD_STATE (spec §5.12-5.14).
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/registries.hpp"
#include "daemon/services/shared_state_store.hpp"

#include <spdlog/logger.h>

namespace ksid::daemon {

class StateCommands {
public:
    StateCommands(SharedStateStore& shared, SessionRegistry& sessions, AgentRegistry& agents,
                  std::shared_ptr<spdlog::logger> log)
        : shared_(shared), sessions_(sessions), agents_(agents), log_(std::move(log)) {}
    void register_with(CommandRouter& router);

private:
    CommandOutcome set_shared(const protocol::LegacyRequest&);
    CommandOutcome get_shared(const protocol::LegacyRequest&);
    CommandOutcome load_state(const protocol::LegacyRequest&);

    SharedStateStore& shared_;
    SessionRegistry& sessions_;
    AgentRegistry& agents_;
    std::shared_ptr<spdlog::logger> log_;
};

} // namespace ksid::daemon
