#pragma once
// Where daemon-originated events go (PROCESS_COMPLETE, AGENT_TERMINATED; spec §7.5): the message bus.
// Services publish through this interface so that they do not depend on the bus.
#include <boost/json/object.hpp>

#include <string_view>

namespace ksid::daemon {

class EventSink {
public:
    virtual ~EventSink() = default;
    // Builds {"id","type","from","timestamp", ...payload} and routes it like PUBLISH (generic routing).
    virtual void publish_event(std::string_view event_type, std::string_view from, boost::json::object payload) = 0;
};

} // namespace ksid::daemon
