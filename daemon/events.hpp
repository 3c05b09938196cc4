#pragma once
// Where daemon-originated events go (PROCESS_COMPLETE, AGENT_TERMINATED; spec §7.5). The message bus
// implements this; until then events are only logged.
#include <boost/json/object.hpp>

#include <spdlog/logger.h>

#include <memory>
#include <string_view>

namespace ksid::daemon {

class EventSink {
public:
    virtual ~EventSink() = default;
    // Builds {"id","type","from","timestamp", ...payload} and routes it like PUBLISH (generic routing).
    virtual void publish_event(std::string_view event_type, std::string_view from, boost::json::object payload) = 0;
};

class LoggingEventSink final : public EventSink {
public:
    explicit LoggingEventSink(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}
    void publish_event(std::string_view event_type, std::string_view from, boost::json::object payload) override;

private:
    std::shared_ptr<spdlog::logger> log_;
};

} // namespace ksid::daemon
