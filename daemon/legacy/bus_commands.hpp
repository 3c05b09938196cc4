#pragma once
// AGENT_CONNECTION, SUBSCRIBE, PUBLISH, MESSAGE_BUS_STATS (spec §5.8-5.11, §7).
#include "daemon/services/message_bus.hpp"
#include "daemon/legacy/command_router.hpp"

namespace ksid::daemon {

class BusCommands {
public:
    explicit BusCommands(MessageBus& bus) : bus_(bus) {}
    void register_with(CommandRouter& router);

private:
    boost::asio::awaitable<CommandOutcome> agent_connection(const protocol::LegacyRequest&, RequestContext&);
    CommandOutcome subscribe(const protocol::LegacyRequest&);
    CommandOutcome publish(const protocol::LegacyRequest&);

    MessageBus& bus_;
};

} // namespace ksid::daemon
