#pragma once
// Agent identities (spec §5.15-5.19, §9.5): agent id → identity object, in insertion order, persisted as
// shared_state/identities.json (indent 2, ASCII escapes, no trailing newline), written durably on every
// change and read once at start-up.
#include <boost/json/object.hpp>

#include <string>
#include <system_error>

namespace ksid::daemon {

class IdentityStore {
public:
    explicit IdentityStore(std::string path = "shared_state/identities.json") : path_(std::move(path)) {}

    // Reads the file; a missing or invalid file means no identities (it is overwritten on the next change).
    // Returns false when the file existed but could not be used.
    bool load();

    const boost::json::object& all() const { return identities_; }
    boost::json::object* find(std::string_view agent_id);

    // Inserts or replaces (keeping the position of an existing id), then saves.
    std::error_code put(std::string_view agent_id, boost::json::object identity);
    // Saves after an in-place change made through find().
    std::error_code save();
    // Removes and saves; false when the id is unknown.
    bool remove(std::string_view agent_id, std::error_code& ec);

private:
    std::string path_;
    boost::json::object identities_;
};

} // namespace ksid::daemon
