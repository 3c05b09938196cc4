#pragma once
// Shared state (spec §5.12-5.14, §9.4): key → JSON value in memory, persisted as shared_state/<key>.json
// ({"value": ..., "updated_at": ...}, written durably: temp file, fsync, rename). Keys name files, so a key
// that could leave shared_state/ or that names ksid's own identities.json is rejected. A file ksid cannot
// use is kept aside (state_file.hpp) the first time it is read or about to be overwritten, never replaced.
#include "daemon/services/state_file.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <spdlog/logger.h>

#include <cstddef>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

namespace ksid::daemon {

class SharedStateStore {
public:
    // Files are read up to this size, so none is written larger.
    static constexpr std::size_t max_file_bytes = std::size_t{64} << 20;

    SharedStateStore(std::string directory, std::shared_ptr<spdlog::logger> log)
        : directory_(std::move(directory)), log_(std::move(log)) {}

    // The file name for a key as the legacy daemon forms it (str(key) + ".json"), or why it is refused.
    struct KeyRejected {
        const char* reason;
    };
    static boost::system::result<std::string, KeyRejected> file_name_for(const boost::json::value& key);

    // Stores in memory, then writes the file. Returns the write error, if any. Refused without a change
    // (file_too_large, invalid_argument) when the file would not read back, and with the read error when
    // the file already there can neither be read nor kept aside.
    std::error_code set(const std::string& file_name, const boost::json::value& value);

    // The in-memory value, else the file's "value" (cached); null when absent or unusable.
    boost::json::value get(const std::string& file_name);

    // LOAD_STATE: replaces the in-memory table (files are untouched and still visible through get()).
    void replace_all(const boost::json::object& values);

private:
    // Reads the file (an unusable one is kept aside); logs what it found wrong.
    StateFileLoad load(const std::string& file_name);

    std::string directory_;
    std::shared_ptr<spdlog::logger> log_;
    std::unordered_map<std::string, boost::json::value> values_; // keyed by file name
    std::unordered_set<std::string> checked_files_; // read, kept aside or written since start: safe to write
    std::unordered_set<std::string> unreadable_reported_; // unreadable files already logged
};

} // namespace ksid::daemon
