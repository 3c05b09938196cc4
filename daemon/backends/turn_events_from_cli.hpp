#pragma once
// The CLI's stream-json events (protocol::StreamEvent) → turn events, and a CLI result object → the
// turn's answer. Used by every backend whose wire carries the CLI's own vocabulary: the cli backend, and
// the upstream backend for a ksid upstream's result object.
#include "daemon/turns/turn_events.hpp"
#include "daemon/turns/turn_outcome.hpp"
#include "protocol/stream_json.hpp"

#include <optional>

namespace ksid::daemon {

// nullopt for the result event (it becomes the answer, not an event).
std::optional<TurnEvent> turn_event_from_cli(const protocol::StreamEvent& event);

// The answer a CLI result object describes. session_id: the object's, when valid, else `fallback`.
TurnAnswer answer_from_cli_result(boost::json::object result,
                                  std::optional<std::string> fallback_session = std::nullopt);

} // namespace ksid::daemon
