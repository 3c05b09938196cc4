#pragma once
// In-memory registries the legacy daemon keeps (spec §9.9): sessions and agents (agent id → record). Both
// are replaced by LOAD_STATE and lost on restart.
#include <boost/json/object.hpp>

#include <deque>
#include <string>
#include <unordered_set>

namespace ksid::daemon {

// The legacy daemon kept every session's last output forever; nothing ever reads it back (it is visible only
// as CLEANUP's count). ksid keeps the ids alone, at most `capacity` of them, oldest forgotten first, so weeks
// of runs cannot grow the daemon without bound.
class SessionRegistry {
public:
    static constexpr std::size_t capacity = 100'000;

    void record(const std::string& session) {
        if (!ids_.insert(session).second) return;
        order_.push_back(session);
        if (order_.size() > capacity) {
            ids_.erase(order_.front());
            order_.pop_front();
        }
    }
    void replace(const boost::json::object& sessions) {
        clear();
        for (const auto& kv : sessions)
            record(std::string(kv.key()));
    }
    std::size_t size() const { return ids_.size(); }
    const std::deque<std::string>& ids_in_order() const { return order_; } // oldest first
    void clear() {
        ids_.clear();
        order_.clear();
    }

private:
    std::unordered_set<std::string> ids_;
    std::deque<std::string> order_;
};

struct AgentRegistry {
    boost::json::object agents;
};

} // namespace ksid::daemon
