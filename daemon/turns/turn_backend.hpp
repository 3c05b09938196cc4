#pragma once
// Where turns run: the cli backend spawns `claude`, the upstream backend calls an upstream API. The job
// queue calls run() once per turn with the turn's cancellation token and the sink for its events.
#include "daemon/core/cancellation.hpp"
#include "daemon/turns/turn_events.hpp"
#include "daemon/turns/turn_outcome.hpp"
#include "daemon/turns/turn_request.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string_view>

namespace ksid::daemon {

namespace asio = boost::asio;

class TurnBackend {
public:
    virtual ~TurnBackend() = default;
    // events: every event of the turn, in order (empty for cli_json turns that nobody watches).
    virtual boost::asio::awaitable<TurnOutcome> run(const TurnRequest& request, const TurnEventSink& events,
                                                    std::shared_ptr<CancellationToken> cancel) = 0;
    virtual std::string_view name() const = 0;
};

} // namespace ksid::daemon
