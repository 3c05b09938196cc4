#pragma once
// Agent identities (spec §5.15-5.19, §9.5): agent id → identity object, in insertion order, persisted as
// shared_state/identities.json (indent 2, ASCII escapes, no trailing newline), written durably on every
// change and read once at start-up. A file that cannot be used is kept aside, never overwritten
// (state_file.hpp); a change that cannot be saved is not applied.
#include "daemon/services/state_file.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <string>
#include <system_error>

namespace ksid::daemon {

class IdentityStore {
public:
    // The file is read up to this size, so it is never written larger.
    static constexpr std::size_t max_file_bytes = std::size_t{256} << 20;

    explicit IdentityStore(std::string path = "shared_state/identities.json") : path_(std::move(path)) {}

    // Reads the file. Missing: no identities. Unusable: kept aside, no identities. Failed (unreadable, or
    // not renamed aside): no identities, and the caller must not let the file be overwritten.
    StateFileLoad load();

    const boost::json::object& all() const { return identities_; }
    const boost::json::object* find(std::string_view agent_id) const;

    // Inserts or replaces (keeping the position of an existing id), then saves; on a save error the
    // store is left as it was.
    std::error_code put(std::string_view agent_id, boost::json::object identity);
    // Removes and saves (on a save error the store is left as it was); false when the id is unknown.
    bool remove(std::string_view agent_id, std::error_code& ec);

private:
    std::error_code save() const;

    std::string path_;
    boost::json::object identities_;
};

} // namespace ksid::daemon
