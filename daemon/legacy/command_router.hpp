#pragma once
// Maps the 29 legacy command names to their handlers. A known command whose handler has not landed
// answers a clear error; a handler that throws becomes COMMAND_PROCESSING_FAILED and never reaches the
// connection.
#include "daemon/legacy/command_types.hpp"

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <unordered_map>

namespace ksid::daemon {

class CommandRouter {
public:
    explicit CommandRouter(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}

    void add(std::string_view command, CommandHandler handler);
    bool has(std::string_view command) const { return handlers_.contains(std::string(command)); }

    boost::asio::awaitable<CommandOutcome> dispatch(const protocol::LegacyRequest& request,
                                                    RequestContext& ctx);

private:
    std::shared_ptr<spdlog::logger> log_;
    std::unordered_map<std::string, CommandHandler> handlers_;
};

} // namespace ksid::daemon
