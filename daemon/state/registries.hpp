#pragma once
// In-memory registries the legacy daemon keeps (spec §9.9): sessions (session id → last Claude output)
// and agents (agent id → record). Both are replaced by LOAD_STATE and lost on restart.
#include <boost/json/object.hpp>

namespace ksid::daemon {

struct SessionRegistry {
    boost::json::object sessions;
};

struct AgentRegistry {
    boost::json::object agents;
};

} // namespace ksid::daemon
