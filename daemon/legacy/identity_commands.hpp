#pragma once
// CREATE_IDENTITY, UPDATE_IDENTITY, GET_IDENTITY, LIST_IDENTITIES, REMOVE_IDENTITY (spec §5.15-5.19).
#include "daemon/legacy/command_router.hpp"
#include "daemon/services/identity_store.hpp"

#include <spdlog/logger.h>

namespace ksid::daemon {

class IdentityCommands {
public:
    IdentityCommands(IdentityStore& store, std::shared_ptr<spdlog::logger> log)
        : store_(store), log_(std::move(log)) {}
    void register_with(CommandRouter& router);

    // The identity CREATE_IDENTITY builds (exposed for tests of the defaults).
    static boost::json::object make_identity(const std::string& agent_id,
                                             const boost::json::value& display_name,
                                             const boost::json::value& role,
                                             const boost::json::value& personality_traits);

private:
    boost::asio::awaitable<CommandOutcome> create(const protocol::LegacyRequest&);
    boost::asio::awaitable<CommandOutcome> update(const protocol::LegacyRequest&);
    CommandOutcome get(const protocol::LegacyRequest&);
    CommandOutcome list(const protocol::LegacyRequest&);
    boost::asio::awaitable<CommandOutcome> remove(const protocol::LegacyRequest&);
    CommandOutcome save_failed(const char* code, const std::error_code& ec);

    IdentityStore& store_;
    std::shared_ptr<spdlog::logger> log_;
};

} // namespace ksid::daemon
