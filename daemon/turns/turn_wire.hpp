#pragma once
// The turn's typed data as JSON, sans I/O: how a front and its workers pass requests, events and outcomes
// through the broker (Redis). Every field round-trips. Decoders are strict about types (a missing field
// takes its default, one of the wrong type is an error, unknown fields are ignored) and never throw: a
// malformed value is errc::internal (it can only come from a ksid that disagrees with this one).
#include "daemon/core/error.hpp"
#include "daemon/turns/turn_events.hpp"
#include "daemon/turns/turn_outcome.hpp"
#include "daemon/turns/turn_request.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace ksid::daemon {

// The request a front submits; time_limit as "time_limit_ms", output as "cli_json" or "events".
boost::json::object turn_request_to_json(const TurnRequest& request);
result<TurnRequest> turn_request_from_json(const boost::json::value& value);

// An event, with its alternative in "type": started, text_delta, assistant_text, tool_use, tool_result,
// usage, rate_limit.
boost::json::object turn_event_to_json(const TurnEvent& event);
result<TurnEvent> turn_event_from_json(const boost::json::value& value);

// An outcome, "type":"outcome" (so that it can follow the events it ends in one stream). Its error is
// {"category":"ksid","value":N}, or for another category {"category","value","message"}, which decodes as
// errc::internal with the category's message added to detail.
boost::json::object turn_outcome_to_json(const TurnOutcome& outcome);
result<TurnOutcome> turn_outcome_from_json(const boost::json::value& value);

} // namespace ksid::daemon
