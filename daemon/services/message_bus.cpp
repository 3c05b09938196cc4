#include "daemon/services/message_bus.hpp"

#include "daemon/core/filesystem.hpp"
#include "protocol/python_format.hpp"
#include "protocol/python_json.hpp"
#include "protocol/timestamp.hpp"

#include <algorithm>
#include <chrono>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

// str(time.time()): Python's repr of the float seconds, e.g. "1750605108.5892332".
std::string unix_time_id() {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return protocol::python_float(std::chrono::duration<double>(now).count());
}

void erase_value(std::vector<std::string>& v, const std::string& s) {
    v.erase(std::remove(v.begin(), v.end(), s), v.end());
}

} // namespace

MessageBus::MessageBus(std::string log_path, BusLimits limits, std::shared_ptr<spdlog::logger> log)
    : log_file_(std::move(log_path)), limits_(limits), log_(std::move(log)) {}

void MessageBus::connect(const std::string& agent_id, std::shared_ptr<BusEndpoint> endpoint) {
    if (!endpoints_.contains(agent_id)) endpoint_order_.push_back(agent_id);
    endpoints_[agent_id] = std::move(endpoint);
    log_->info("Agent {} connected to message bus", agent_id);
}

void MessageBus::flush_offline(const std::string& agent_id) {
    auto it = offline_.find(agent_id);
    auto ep = endpoints_.find(agent_id);
    if (it == offline_.end() || ep == endpoints_.end()) return;
    auto& queue = it->second;
    if (queue.dropped > 0)
        log_->warn("Offline queue of {}: {} oldest messages were dropped while it was offline", agent_id,
                   queue.dropped);
    queue.dropped = 0;
    offline_total_logged_ = false;
    offline_refusal_logged_ = false;
    log_->info("Delivering {} queued messages to {}", queue.lines.size(), agent_id);
    std::size_t delivered = 0;
    while (!queue.lines.empty()) {
        if (!ep->second->deliver(queue.lines.front())) break; // the rest stays queued
        offline_bytes_ -= queue.lines.front()->size();
        queue.pop_front();
        ++delivered;
    }
    log_->info("Delivered {} queued messages to {}", delivered, agent_id);
    if (queue.lines.empty()) {
        offline_.erase(it);
        erase_value(offline_order_, agent_id);
    }
}

void MessageBus::disconnect(const std::string& agent_id) {
    if (endpoints_.erase(agent_id)) erase_value(endpoint_order_, agent_id);
    log_->info("Agent {} disconnected from message bus",
               agent_id); // logged even when not connected, as legacy
    for (auto& [type, subs] : subscriptions_)
        subs.erase(std::remove_if(subs.begin(), subs.end(),
                                  [&](const Subscriber& s) { return s.agent_id == agent_id; }),
                   subs.end());
    forget_empty_types();
}

void MessageBus::endpoint_closed(const BusEndpoint* endpoint, bool quiet) {
    // Every id still bound to this connection goes (the legacy daemon forgot only its first line's, and kept
    // the others as agents nobody could reach: their messages now wait in offline queues instead); an id a
    // newer connection took over keeps its place.
    for (auto it = endpoints_.begin(); it != endpoints_.end();) {
        if (it->second.get() == endpoint) {
            if (!quiet) log_->info("Agent {} disconnected from message bus", it->first);
            erase_value(endpoint_order_, it->first);
            it = endpoints_.erase(it);
        } else {
            ++it;
        }
    }
    // So do the subscriptions made on it, whichever id made them (a reconnected agent's old ones too).
    for (auto& [type, subs] : subscriptions_)
        subs.erase(std::remove_if(subs.begin(), subs.end(),
                                  [&](const Subscriber& s) { return s.endpoint.get() == endpoint; }),
                   subs.end());
    forget_empty_types();
}

// Event types stay listed (with no subscriber) as in the legacy daemon's MESSAGE_BUS_STATS, but not without
// bound: past max_empty_types the oldest empty ones are forgotten.
void MessageBus::forget_empty_types() {
    std::size_t empty = 0;
    for (const auto& [type, subs] : subscriptions_)
        empty += subs.empty();
    for (auto it = subscription_order_.begin(); empty > max_empty_types && it != subscription_order_.end();) {
        auto sub = subscriptions_.find(*it);
        if (sub != subscriptions_.end() && sub->second.empty()) {
            subscriptions_.erase(sub);
            it = subscription_order_.erase(it);
            --empty;
        } else {
            ++it;
        }
    }
}

bool MessageBus::subscribe(const std::string& agent_id, const std::vector<std::string>& event_types) {
    auto ep = endpoints_.find(agent_id);
    if (ep == endpoints_.end()) {
        log_->warn("Cannot subscribe {} - not connected", agent_id);
        return false;
    }
    for (const auto& type : event_types) {
        auto [it, inserted] = subscriptions_.try_emplace(type);
        if (inserted) subscription_order_.push_back(type);
        auto& subs = it->second;
        const bool present = std::any_of(subs.begin(), subs.end(), [&](const Subscriber& s) {
            return s.agent_id == agent_id && s.endpoint == ep->second;
        });
        if (!present) subs.push_back({agent_id, ep->second});
        log_->info("Agent {} subscribed to {}", agent_id, type);
    }
    return true;
}

json::object MessageBus::build_message(const json::value& from, std::string_view event_type,
                                       const json::object& payload) const {
    json::object m;
    m["id"] = unix_time_id();
    m["type"] = event_type;
    m["from"] = from;
    m["timestamp"] = protocol::legacy_timestamp_now();
    for (const auto& kv : payload)
        m[kv.key()] = kv.value(); // payload keys override, in place
    return m;
}

void MessageBus::enqueue_offline(const std::string& agent_id, std::shared_ptr<const std::string> line) {
    if (line->size() > limits_.offline_bytes_per_agent) {
        if (!offline_refusal_logged_)
            log_->warn("A {}-byte message for {} is over daemon.max_offline_bytes ({}); not queued (such "
                       "messages are logged once until a queue is flushed)",
                       line->size(), agent_id, limits_.offline_bytes_per_agent);
        offline_refusal_logged_ = true;
        return;
    }
    auto it = offline_.find(agent_id);
    if (it == offline_.end()) {
        if (offline_.size() >= limits_.offline_agents) {
            if (!offline_refusal_logged_)
                log_->warn(
                    "Offline queues are full ({} agents); dropping a message for {} (such messages are "
                    "logged once until a queue is flushed)",
                    offline_.size(), agent_id);
            offline_refusal_logged_ = true;
            return;
        }
        it = offline_.emplace(agent_id, OfflineQueue{}).first;
        offline_order_.push_back(agent_id);
    }
    auto& queue = it->second;
    const std::size_t before = queue.dropped;
    while (!queue.lines.empty() && (queue.lines.size() >= limits_.offline_per_agent ||
                                    queue.bytes + line->size() > limits_.offline_bytes_per_agent)) {
        offline_bytes_ -= queue.lines.front()->size();
        queue.pop_front();
        ++queue.dropped;
    }
    if (before == 0 && queue.dropped > 0) // once per burst: the next line is at flush_offline()
        log_->warn(
            "Offline queue of {} is full ({} messages, {} bytes at most); dropping its oldest messages",
            agent_id, limits_.offline_per_agent, limits_.offline_bytes_per_agent);
    queue.bytes += line->size();
    offline_bytes_ += line->size();
    queue.lines.push_back(std::move(line));
    if (offline_bytes_ > limits_.offline_total_bytes)
        drop_oldest_offline(offline_bytes_ - limits_.offline_total_bytes);
}

void MessageBus::drop_oldest_offline(std::size_t room) {
    if (!offline_total_logged_)
        log_->warn("Offline queues hold over {} bytes (daemon.max_offline_total_bytes); dropping the oldest "
                   "queued messages",
                   limits_.offline_total_bytes);
    offline_total_logged_ = true;
    std::size_t freed = 0;
    // The queue that was started first holds the oldest messages; the one just appended to is last to go.
    while (freed < room && !offline_order_.empty()) {
        const std::string id = offline_order_.front();
        auto& queue = offline_.at(id);
        while (freed < room && !queue.lines.empty()) {
            freed += queue.lines.front()->size();
            queue.pop_front();
            ++queue.dropped;
        }
        if (!queue.lines.empty()) break;
        offline_.erase(id);
        offline_order_.erase(offline_order_.begin());
    }
    offline_bytes_ -= freed;
}

json::object MessageBus::route_direct(const json::object& message, std::shared_ptr<const std::string> line) {
    const json::value* to = message.if_contains("to");
    const json::value* from = message.if_contains("from");
    const std::string from_id = from ? protocol::python_str(*from) : std::string();
    json::array notified;
    if (auto it = subscriptions_.find("DIRECT_MESSAGE"); it != subscriptions_.end()) {
        // deliver() never re-enters the bus (a dropped connection is cleaned up later), so iterate in place
        for (const auto& s : it->second)
            if (s.agent_id != from_id && s.endpoint->deliver(line)) notified.emplace_back(s.agent_id);
    }
    const std::string to_id = protocol::python_str(*to);
    json::object result;
    auto ep = endpoints_.find(to_id);
    if (ep != endpoints_.end() && ep->second->deliver(line)) {
        result = {{"status", "delivered"}, {"to", *to}, {"notified", std::move(notified)}};
    } else {
        const bool write_failed = ep != endpoints_.end();
        enqueue_offline(to_id, line);
        result = {{"status", "queued"}, {"to", *to}, {"notified", std::move(notified)}};
        if (write_failed) result["error"] = "Failed to deliver to " + to_id + ": connection closed";
    }
    return result;
}

json::object MessageBus::publish(const json::value& from, std::string_view event_type,
                                 const json::object& payload) {
    if (forward_) { // handed over: the new daemon records and routes it; the reply keeps PUBLISH's shape
        const json::value* to = payload.if_contains("to");
        const bool has_to = to && protocol::python_truthy(*to);
        if (event_type == "DIRECT_MESSAGE" && !has_to)
            return {{"status", "error"}, {"error", "No recipient specified"}};
        if (event_type == "TASK_ASSIGNMENT" && !has_to)
            return {{"status", "error"}, {"error", "No capable agent found"}};
        forward_(from, event_type, payload);
        if (has_to && (event_type == "DIRECT_MESSAGE" || event_type == "TASK_ASSIGNMENT"))
            return {{"status", "queued"}, {"to", *to}, {"notified", json::array()}};
        if (event_type == "BROADCAST")
            return {{"status", "broadcast"},
                    {"delivered", json::array()},
                    {"failed", json::array()},
                    {"total", 0}};
        return {{"status", "published"}, {"event_type", event_type}, {"delivered_to", json::array()}};
    }
    json::object message = build_message(from, event_type, payload);
    std::string text = protocol::to_python_json(message);
    text += '\n';
    auto line = std::make_shared<const std::string>(std::move(text));
    history_.push_back(line);
    if (history_.size() > limits_.history) history_.pop_front();
    if (auto ec = log_file_.append(*line))
        log_->warn("Cannot append to claude_logs/message_bus.jsonl: {}", ec.message());

    const json::value* to = message.if_contains("to");
    const bool has_to = to && protocol::python_truthy(*to);
    if (event_type == "DIRECT_MESSAGE") {
        if (!has_to) return {{"status", "error"}, {"error", "No recipient specified"}};
        return route_direct(message, line);
    }
    if (event_type == "TASK_ASSIGNMENT") {
        if (!has_to) return {{"status", "error"}, {"error", "No capable agent found"}};
        return route_direct(message, line);
    }
    const json::value* from_value = message.if_contains("from");
    const std::string from_id = from_value ? protocol::python_str(*from_value) : std::string();
    static const std::vector<Subscriber> none;
    auto it = subscriptions_.find(std::string(event_type));
    const auto& subs = it == subscriptions_.end() ? none : it->second;
    if (event_type == "BROADCAST") {
        json::array delivered, failed;
        for (const auto& s : subs) {
            if (s.agent_id == from_id) continue;
            (s.endpoint->deliver(line) ? delivered : failed).emplace_back(s.agent_id);
        }
        const auto total = delivered.size() + failed.size();
        return {{"status", "broadcast"},
                {"delivered", std::move(delivered)},
                {"failed", std::move(failed)},
                {"total", total}};
    }
    json::array delivered_to;
    for (const auto& s : subs)
        if (s.endpoint->deliver(line)) delivered_to.emplace_back(s.agent_id);
    return {{"status", "published"}, {"event_type", event_type}, {"delivered_to", std::move(delivered_to)}};
}

json::object MessageBus::export_offline() const {
    json::object out;
    for (const auto& agent : offline_order_) {
        auto it = offline_.find(agent);
        if (it == offline_.end()) continue;
        json::array lines;
        for (const auto& line : it->second.lines)
            lines.emplace_back(std::string_view(*line));
        out[agent] = std::move(lines);
    }
    return out;
}

void MessageBus::import_offline(const json::object& queues) {
    for (const auto& kv : queues) {
        if (!kv.value().is_array()) continue;
        const std::string agent(kv.key());
        for (const auto& line : kv.value().get_array())
            if (line.is_string())
                enqueue_offline(agent, std::make_shared<const std::string>(line.get_string()));
    }
}

void MessageBus::clear_offline() {
    offline_.clear();
    offline_order_.clear();
    offline_bytes_ = 0;
}

json::array MessageBus::export_history() const {
    json::array out;
    for (const auto& line : history_)
        out.emplace_back(std::string_view(*line));
    return out;
}

void MessageBus::import_history(const json::array& lines) {
    for (const auto& line : lines) {
        if (!line.is_string()) continue;
        history_.push_back(std::make_shared<const std::string>(line.get_string()));
        if (history_.size() > limits_.history) history_.pop_front();
    }
}

MessageBus::Bindings MessageBus::bindings_of(const BusEndpoint* endpoint) const {
    Bindings b;
    for (const auto& id : endpoint_order_) {
        auto it = endpoints_.find(id);
        if (it != endpoints_.end() && it->second.get() == endpoint) b.agent_ids.push_back(id);
    }
    for (const auto& type : subscription_order_) {
        auto it = subscriptions_.find(type);
        if (it == subscriptions_.end()) continue;
        for (const auto& s : it->second)
            if (s.endpoint.get() == endpoint) b.subscriptions.emplace_back(s.agent_id, type);
    }
    return b;
}

void MessageBus::publish_event(std::string_view event_type, std::string_view from, json::object payload) {
    publish(json::value(from), event_type, payload);
}

json::object MessageBus::stats() const {
    json::array connected;
    for (const auto& id : endpoint_order_)
        connected.emplace_back(id);
    json::object subscriptions;
    for (const auto& type : subscription_order_) {
        json::array ids;
        for (const auto& s : subscriptions_.at(type))
            ids.emplace_back(s.agent_id);
        subscriptions[type] = std::move(ids);
    }
    json::object offline;
    for (const auto& id : offline_order_)
        offline[id] = offline_.at(id).lines.size();
    return {{"connected_agents", std::move(connected)},
            {"subscriptions", std::move(subscriptions)},
            {"offline_queues", std::move(offline)},
            {"history_size", history_.size()}};
}

} // namespace ksid::daemon
