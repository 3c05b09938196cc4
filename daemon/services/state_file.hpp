#pragma once
// ksid's state files (shared_state/identities.json, shared_state/<key>.json) are never lost: one that
// exists but cannot be used (not JSON, not the expected shape, over the size limit, a number ksid cannot
// hold) is renamed to "<name>.corrupt-<UTC time>" before ksid carries on without it, never overwritten;
// and ksid writes only text that it reads back as written.
#include <boost/json/value.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace ksid::daemon {

struct StateFileLoad {
    enum class Kind {
        missing,    // no such file
        loaded,     // `value` holds its content
        kept_aside, // it could not be used and was renamed aside; `detail` says why and where to
        failed,     // it could not be read (an I/O error) or not renamed aside; `detail` says why. The file
                    // is untouched: whoever goes on must not overwrite it
    };
    Kind kind = Kind::missing;
    boost::json::value value;
    std::string detail;
    std::error_code error; // failed: the read or rename error
};

// Why a parsed state file does not have the shape its owner needs (nullptr: it does).
using StateShapeCheck = const char* (*)(const boost::json::value&);

// Reads `path` (at most max_bytes, exact numbers only, then `shape`); an unusable file is kept aside.
StateFileLoad load_state_file(const std::string& path, std::size_t max_bytes, StateShapeCheck shape);

// Whether `content` would load back as written: file_too_large over max_bytes, invalid_argument when it
// would not parse back exactly (too deep, a number out of range). Writers refuse such content.
std::error_code check_state_content(std::string_view content, std::size_t max_bytes);

} // namespace ksid::daemon
