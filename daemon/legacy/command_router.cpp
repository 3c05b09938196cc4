#include "daemon/legacy/command_router.hpp"

#include "protocol/command_table.hpp"
#include "protocol/python_format.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace ksid::daemon {

boost::system::result<const boost::json::object*, CommandError>
parameters_object(const protocol::LegacyRequest& r) {
    if (r.parameters.is_object()) return &r.parameters.get_object();
    return CommandError{"COMMAND_PROCESSING_FAILED",
                        "'" + std::string(protocol::python_type_name(r.parameters)) +
                            "' object has no attribute 'get'"};
}

const boost::json::value& parameter(const boost::json::object& parameters, std::string_view key) {
    static const boost::json::value null_value;
    const auto* v = parameters.if_contains(key);
    return v ? *v : null_value;
}

void CommandRouter::add(std::string_view command, CommandHandler handler) {
    if (!protocol::find_legacy_command(command))
        throw std::logic_error("not a legacy command: " + std::string(command));
    handlers_[std::string(command)] = std::move(handler);
}

boost::asio::awaitable<CommandOutcome> CommandRouter::dispatch(const protocol::LegacyRequest& request,
                                                               RequestContext& ctx) {
    auto it = handlers_.find(request.command);
    if (it == handlers_.end())
        co_return CommandOutcome::failure("NOT_IMPLEMENTED",
                                          request.command + " is not available in this ksid version yet");
    try {
        co_return co_await it->second(request, ctx);
    } catch (const std::exception& e) {
        log_->error("Command {} failed: {}", request.command, e.what());
        co_return CommandOutcome::failure("COMMAND_PROCESSING_FAILED", e.what());
    }
}

} // namespace ksid::daemon
