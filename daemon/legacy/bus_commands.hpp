#pragma once
// AGENT_CONNECTION, SUBSCRIBE, PUBLISH, MESSAGE_BUS_STATS (spec §5.8-5.11, §7).
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/message_bus.hpp"

#include <spdlog/logger.h>

#include <memory>

namespace ksid::daemon {

class BusCommands {
public:
    BusCommands(MessageBus& bus, std::shared_ptr<spdlog::logger> log) : bus_(bus), log_(std::move(log)) {}
    void register_with(CommandRouter& router);

private:
    boost::asio::awaitable<CommandOutcome> agent_connection(const protocol::LegacyRequest&, RequestContext&);
    CommandOutcome subscribe(const protocol::LegacyRequest&);
    CommandOutcome publish(const protocol::LegacyRequest&);

    MessageBus& bus_;
    std::shared_ptr<spdlog::logger> log_;
};

} // namespace ksid::daemon
