#pragma once
// Structured output's answer (README "Structured output"): the object the CLI's StructuredOutput tool
// returned, checked again against the client's schema, is the message content as JSON text; an answer
// without one, or with one that does not satisfy the schema, is a refusal that says why. Never an
// unchecked object.
#include "daemon/turns/turn_outcome.hpp"

#include <boost/json/value.hpp>

#include <string>

namespace ksid::facade {

struct StructuredContent {
    bool refused = false;
    std::string text; // the JSON text, or why there is none
};

StructuredContent structured_content(const daemon::TurnAnswer& answer, const boost::json::value& schema);

} // namespace ksid::facade
