#pragma once
// Shared state (spec §5.12-5.14, §9.4): key → JSON value in memory, persisted as shared_state/<key>.json
// ({"value": ..., "updated_at": ...}, written durably: temp file, fsync, rename). Keys name files, so a key
// that could leave shared_state/ or that names ksid's own identities.json is rejected.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <system_error>
#include <unordered_map>

namespace ksid::daemon {

class SharedStateStore {
public:
    explicit SharedStateStore(std::string directory = "shared_state") : directory_(std::move(directory)) {}

    // The file name for a key as the legacy daemon forms it (str(key) + ".json"), or why it is refused.
    struct KeyRejected {
        const char* reason;
    };
    static boost::system::result<std::string, KeyRejected> file_name_for(const boost::json::value& key);

    // Stores in memory, then writes the file. Returns the write error, if any.
    std::error_code set(const std::string& file_name, const boost::json::value& value);

    // The in-memory value, else the file's "value" (cached); null when absent or unreadable.
    boost::json::value get(const std::string& file_name);

    // LOAD_STATE: replaces the in-memory table (files are untouched and still visible through get()).
    void replace_all(const boost::json::object& values);

private:
    std::string directory_;
    std::unordered_map<std::string, boost::json::value> values_; // keyed by file name
};

} // namespace ksid::daemon
