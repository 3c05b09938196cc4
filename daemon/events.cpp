#include "daemon/events.hpp"

#include "protocol/python_json.hpp"

namespace ksid::daemon {

void LoggingEventSink::publish_event(std::string_view event_type, std::string_view from, boost::json::object payload) {
    log_->info("Event {} from {} (no message bus yet): {}", event_type, from, protocol::to_python_json(payload));
}

} // namespace ksid::daemon
