#pragma once
// GET_COMPOSITIONS, GET_COMPOSITION, VALIDATE_COMPOSITION, LIST_COMPONENTS, COMPOSE_PROMPT (spec §5.23-5.27).
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/composition_library.hpp"

namespace ksid::daemon {

class CompositionCommands {
public:
    explicit CompositionCommands(CompositionLibrary& library) : library_(library) {}
    void register_with(CommandRouter& router);

private:
    CommandOutcome get_compositions(const protocol::LegacyRequest&);
    CommandOutcome get_composition(const protocol::LegacyRequest&);
    CommandOutcome validate_composition(const protocol::LegacyRequest&);
    CommandOutcome list_components(const protocol::LegacyRequest&);
    CommandOutcome compose_prompt(const protocol::LegacyRequest&);

    CompositionLibrary& library_;
};

} // namespace ksid::daemon
