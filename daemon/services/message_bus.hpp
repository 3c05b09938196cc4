#pragma once
// The message bus (spec §7): agent endpoints (persistent connections), subscriptions bound to the endpoint
// they were made on, offline queues for direct messages, the last 1000 messages and
// claude_logs/message_bus.jsonl. A message is serialised once and the same bytes go to every recipient.
#include "daemon/core/events.hpp"
#include "daemon/core/filesystem.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <spdlog/logger.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ksid::daemon {

// Where bus messages are written: a persistent socket connection.
class BusEndpoint {
public:
    virtual ~BusEndpoint() = default;
    // False when the line could not be handed over (closed, or dropped for not reading).
    virtual bool deliver(std::shared_ptr<const std::string> line) = 0;
};

struct BusLimits {
    std::size_t history = 1000;                     // the legacy in-memory history
    std::size_t offline_per_agent = 1000;           // queued direct messages per agent (oldest dropped first)
    std::size_t offline_bytes_per_agent = 4u << 20; // ... and their bytes (daemon.max_offline_bytes)
    std::size_t offline_agents = 10000;             // agents with a queue
    std::size_t offline_total_bytes = 256u << 20;   // all queues together (daemon.max_offline_total_bytes)
};

class MessageBus final : public EventSink {
public:
    MessageBus(std::string log_path, BusLimits limits, std::shared_ptr<spdlog::logger> log);
    // SIGHUP: the offline queues' byte bounds for messages queued from now on.
    void set_offline_bytes(std::size_t per_agent, std::size_t total) {
        limits_.offline_bytes_per_agent = per_agent;
        limits_.offline_total_bytes = total;
    }

    // AGENT_CONNECTION connect: binds the agent id to the endpoint (replacing an earlier one). Queued direct
    // messages are then written to it by flush_offline(), after the reply.
    void connect(const std::string& agent_id, std::shared_ptr<BusEndpoint> endpoint);
    void flush_offline(const std::string& agent_id);
    // AGENT_CONNECTION disconnect: removes the id's endpoint and all its subscriptions.
    void disconnect(const std::string& agent_id);
    // A connection ended: every agent id still bound to it goes, with the subscriptions made on it. `quiet`:
    // it was handed to another daemon (RELOAD_DAEMON), so nobody disconnected.
    void endpoint_closed(const BusEndpoint* endpoint, bool quiet = false);
    static constexpr std::size_t max_empty_types = 1024; // event types listed with no subscriber, at most

    // False when the agent has no endpoint (SUBSCRIBE_FAILED).
    bool subscribe(const std::string& agent_id, const std::vector<std::string>& event_types);

    // Builds, records and routes a message; returns PUBLISH's result object (§7.3).
    boost::json::object publish(const boost::json::value& from, std::string_view event_type,
                                const boost::json::object& payload);

    // Daemon-originated events (PROCESS_COMPLETE, AGENT_TERMINATED) route like PUBLISH.
    void publish_event(std::string_view event_type, std::string_view from,
                       boost::json::object payload) override;

    boost::json::object stats() const; // MESSAGE_BUS_STATS
    bool connected(const std::string& agent_id) const { return endpoints_.contains(agent_id); }

    // RELOAD_DAEMON (app/daemon_upgrade.hpp). The offline queues, agent id → the queued lines in order.
    boost::json::object export_offline() const;
    void import_offline(const boost::json::object& queues);
    void clear_offline();
    // The in-memory history (the last 1000 messages, oldest first), as lines.
    boost::json::array export_history() const;
    void import_history(const boost::json::array& lines);
    // The agent ids bound to an endpoint (in connection order) and the subscriptions made on it, as
    // [agent id, event type] pairs in subscription order.
    struct Bindings {
        std::vector<std::string> agent_ids;
        std::vector<std::pair<std::string, std::string>> subscriptions;
    };
    Bindings bindings_of(const BusEndpoint* endpoint) const;
    // Once the new daemon has the bus: every message is handed to `forward` (it routes them there) instead
    // of being routed here; an empty function routes here again (a rollback).
    using Forward = std::function<void(const boost::json::value& from, std::string_view event_type,
                                       const boost::json::object& payload)>;
    void forward_to(Forward forward) { forward_ = std::move(forward); }

private:
    struct Subscriber {
        std::string agent_id;
        std::shared_ptr<BusEndpoint> endpoint;
    };

    boost::json::object build_message(const boost::json::value& from, std::string_view event_type,
                                      const boost::json::object& payload) const;
    boost::json::object route_direct(const boost::json::object& message,
                                     std::shared_ptr<const std::string> line);
    void enqueue_offline(const std::string& agent_id, std::shared_ptr<const std::string> line);
    void drop_oldest_offline(std::size_t room); // frees queued bytes, earliest queue first
    void forget_empty_types();

    AppendLog log_file_;
    BusLimits limits_;
    std::shared_ptr<spdlog::logger> log_;
    std::unordered_map<std::string, std::shared_ptr<BusEndpoint>> endpoints_;
    std::vector<std::string> endpoint_order_;                      // connected_agents in connection order
    std::map<std::string, std::vector<Subscriber>> subscriptions_; // types stay (bounded: forget_empty_types)
    std::vector<std::string> subscription_order_;
    struct OfflineQueue {
        std::deque<std::shared_ptr<const std::string>> lines;
        std::size_t bytes = 0;
        std::size_t dropped = 0; // since the queue was last flushed: logged once when dropping starts
        void pop_front() {
            bytes -= lines.front()->size();
            lines.pop_front();
        }
    };
    std::unordered_map<std::string, OfflineQueue> offline_;
    std::vector<std::string> offline_order_;
    std::size_t offline_bytes_ = 0;       // all queues together
    bool offline_total_logged_ = false;   // the total bound was logged since the last flush
    bool offline_refusal_logged_ = false; // a message that could not be queued was, since the last flush
    std::deque<std::shared_ptr<const std::string>> history_;
    Forward forward_;
};

} // namespace ksid::daemon
