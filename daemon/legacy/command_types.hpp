#pragma once
// What command handlers take and give back. Handlers see typed requests and return results as values;
// transports turn them into wire replies.
#include "protocol/legacy_request.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <variant>

namespace ksid::daemon {

// A failure reported as {"status":"error","error":{"code","message","timestamp"}}.
struct CommandError {
    std::string code;
    std::string message;
};

enum class AfterReply {
    keep_going,
    close_connection,
    shutdown_daemon, // reply, close the connection, then shut down (SHUTDOWN)
};

struct CommandOutcome {
    std::variant<boost::json::object, CommandError> body;
    AfterReply after = AfterReply::keep_going;
    // Runs once the reply is queued on the connection (e.g. offline messages follow a connect reply).
    std::function<void()> after_reply{};

    static CommandOutcome success(boost::json::object result) { return {std::move(result)}; }
    static CommandOutcome failure(std::string code, std::string message) {
        return {CommandError{std::move(code), std::move(message)}};
    }
};

class Connection;

// Who sent a request: the transport connection (socket clients) and whether it is persistent.
struct RequestContext {
    std::uint64_t connection_id = 0;
    bool persistent = false;
    bool first_line = false;
    Connection* connection = nullptr; // null for requests that do not come from a socket connection
};

using CommandHandler =
    std::function<boost::asio::awaitable<CommandOutcome>(const protocol::LegacyRequest&, RequestContext&)>;

// The parameters as an object, failing the way the legacy handlers' `parameters.get(...)` fails on an
// explicit null or a non-object ("'NoneType' object has no attribute 'get'").
boost::system::result<const boost::json::object*, CommandError>
parameters_object(const protocol::LegacyRequest& r);

namespace detail {
template <class Fn>
boost::asio::awaitable<CommandOutcome> run_sync_handler(Fn fn, const protocol::LegacyRequest& request) {
    co_return fn(request);
}
} // namespace detail

// A command handler from a synchronous function of the request (no suspension, no captured state in the
// coroutine frame beyond the copied function object).
template <class Fn>
CommandHandler sync_handler(Fn fn) {
    return [fn](const protocol::LegacyRequest& request, RequestContext&) {
        return detail::run_sync_handler(fn, request);
    };
}

// parameters.get(key): the value, or null when absent.
const boost::json::value& parameter(const boost::json::object& parameters, std::string_view key);

} // namespace ksid::daemon
