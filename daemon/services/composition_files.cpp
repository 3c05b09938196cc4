// File access for the composition library (declared in composition_internal.hpp): directory listing in
// readdir order, stat checks, and decoding of the YAML and Markdown files.
#include "daemon/services/composition_internal.hpp"

#include "protocol/claude_output.hpp"
#include "protocol/utf8.hpp"

#include <dirent.h>
#include <sys/stat.h>

namespace ksid::daemon::detail {

std::vector<Entry> list_dir(const std::string& dir) {
    std::vector<Entry> entries;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            struct stat st {
            }, lst{};
            const std::string path = dir + "/" + name;
            const bool is_dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
            const bool is_link = ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
            entries.push_back({name, is_dir, is_link});
        }
        ::closedir(d);
    }
    return entries;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::optional<std::string> decode_text(const std::string& bytes, std::string& error) {
    if (!protocol::is_valid_utf8(bytes)) {
        error = protocol::python_utf8_error(bytes);
        return std::nullopt;
    }
    std::string out;
    out.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] == '\r') {
            out += '\n';
            if (i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
        } else {
            out += bytes[i];
        }
    }
    return out;
}

} // namespace ksid::daemon::detail
