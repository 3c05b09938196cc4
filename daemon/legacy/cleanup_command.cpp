#include "daemon/legacy/cleanup_command.hpp"

#include "protocol/python_format.hpp"


#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

// A failure in the words of the Python exception the legacy daemon reported.
struct Step {
    std::string text;
    bool failed = false;
    explicit operator bool() const { return !failed; }
};
Step failure(std::string text) { return {std::move(text), true}; }

std::string python_os_error(int err, const std::string& path) {
    const char* type = err == EISDIR    ? "IsADirectoryError"
                       : err == ENOENT  ? "FileNotFoundError"
                       : err == ENOTDIR ? "NotADirectoryError"
                       : (err == EACCES || err == EPERM) ? "PermissionError"
                                                         : "OSError";
    return std::string(type) + ": [Errno " + std::to_string(err) + "] " + std::strerror(err) + ": '" + path + "'";
}

bool is_directory(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Entry names in readdir order (the legacy glob does not sort).
std::vector<std::string> directory_entries(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            if (name != "." && name != "..") names.push_back(std::move(name));
        }
        ::closedir(d);
    }
    return names;
}

Step remove_file(const std::string& path) {
    struct stat st{};
    // unlink(2) reports EISDIR as EISDIR only on some systems; report a directory the way Python does.
    if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return failure(python_os_error(EISDIR, path));
    if (::unlink(path.c_str()) != 0) return failure(python_os_error(errno, path));
    return Step{std::string()};
}

Step cleanup_logs() {
    const std::string dir = "claude_logs";
    if (!is_directory(dir)) return Step{std::string("No logs directory found")};
    std::size_t removed = 0;
    for (const auto& name : directory_entries(dir)) {
        if (name.front() == '.' || !name.ends_with(".jsonl") || name == "latest.jsonl") continue;
        const std::string path = dir + "/" + name;
        struct stat st{};
        if (::lstat(path.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
        if (auto r = remove_file(path); !r) return r;
        ++removed;
    }
    // A dangling latest.jsonl link goes too.
    const std::string latest = dir + "/latest.jsonl";
    struct stat lst{}, st{};
    if (::lstat(latest.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode) && ::stat(latest.c_str(), &st) != 0)
        ::unlink(latest.c_str());
    return Step{"Removed " + std::to_string(removed) + " log files"};
}

Step cleanup_sockets(const std::string& own_socket_path) {
    const std::string dir = "sockets";
    if (!is_directory(dir)) return Step{std::string("No sockets directory found")};
    std::size_t removed = 0;
    for (const auto& name : directory_entries(dir)) {
        const std::string path = dir + "/" + name;
        if (name == "claude_daemon.sock" || path == own_socket_path) continue;
        if (auto r = remove_file(path); !r) return r;
        ++removed;
    }
    return Step{"Removed " + std::to_string(removed) + " socket files"};
}

} // namespace

void CleanupCommand::register_with(CommandRouter& router) {
    router.add("CLEANUP", sync_handler([this](auto& r) { return cleanup(r); }));
}

CommandOutcome CleanupCommand::cleanup(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return {params.error()};
    const json::value& type = parameter(**params, "cleanup_type");
    const std::string kind = type.is_string() ? std::string(type.get_string()) : std::string();
    auto sessions = [this] {
        const auto n = sessions_.size();
        sessions_.clear();
        return Step{"Cleared " + std::to_string(n) + " tracked sessions"};
    };
    std::string own_socket = own_socket_path_;
    if (own_socket.starts_with("./")) own_socket.erase(0, 2);

    Step details = Step{std::string()};
    if (kind == "logs") {
        details = cleanup_logs();
    } else if (kind == "sessions") {
        details = sessions();
    } else if (kind == "sockets") {
        details = cleanup_sockets(own_socket);
    } else if (kind == "all") {
        auto logs = cleanup_logs();
        if (!logs) {
            details = logs;
        } else {
            auto s = sessions();
            auto sockets = cleanup_sockets(own_socket);
            details = sockets ? Step{"Complete cleanup: " + logs.text + "; " + s.text + "; " + sockets.text} : sockets;
        }
    } else {
        details = Step{"Unknown cleanup type: " + protocol::python_str(type) + ". Use: logs, sessions, sockets, or all"};
    }
    std::string text = details ? details.text : "Cleanup failed: " + details.text;
    if (!details) log_->warn("CLEANUP {}: {}", kind, text);
    return CommandOutcome::success({{"status", "cleaned"}, {"cleanup_type", type}, {"details", std::move(text)}});
}

} // namespace ksid::daemon
