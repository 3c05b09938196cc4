#pragma once
// Internal to the composition library (not part of its interface): what its source files share. File
// access under prompts/ as the legacy daemon saw it (readdir order, stat checks, text decoded the way
// Python's open() reads it) and Python type names for the legacy error texts.
#include "protocol/python_format.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon::detail {

inline constexpr std::size_t max_file_bytes = 4u << 20;

struct Entry {
    std::string name;
    bool is_dir;
    bool is_symlink;
};

// Entries in readdir order, dot-names included (Python 3.11's pathlib glob lists them).
std::vector<Entry> list_dir(const std::string& dir);

bool exists(const std::string& path);

bool is_directory(const std::string& path);

// Text as Python's open(..., "r") reads it: UTF-8 with universal newlines.
std::optional<std::string> decode_text(const std::string& bytes, std::string& error);

// type(v).__name__, for the legacy error texts.
inline std::string type_name(const boost::json::value& v) {
    return std::string(protocol::python_type_name(v));
}

} // namespace ksid::daemon::detail
