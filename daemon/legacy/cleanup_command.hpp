#pragma once
// CLEANUP (spec §5.2): logs, sessions, sockets, all. Always a success reply; failures go in `details`.
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/registries.hpp"

#include <spdlog/logger.h>

namespace ksid::daemon {

class CleanupCommand {
public:
    // own_socket_path: the socket ksid listens on, which "sockets" cleanup never removes.
    CleanupCommand(SessionRegistry& sessions, std::string own_socket_path, std::shared_ptr<spdlog::logger> log)
        : sessions_(sessions), own_socket_path_(std::move(own_socket_path)), log_(std::move(log)) {}
    void register_with(CommandRouter& router);

private:
    CommandOutcome cleanup(const protocol::LegacyRequest&);

    SessionRegistry& sessions_;
    std::string own_socket_path_;
    std::shared_ptr<spdlog::logger> log_;
};

} // namespace ksid::daemon
