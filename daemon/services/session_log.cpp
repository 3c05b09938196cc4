#include "daemon/services/session_log.hpp"

#include "daemon/core/filesystem.hpp"
#include "protocol/claude_cli.hpp"
#include "protocol/python_json.hpp"

#include <cerrno>
#include <unistd.h>

namespace ksid::daemon {

namespace {
// Callers validate session ids already; this keeps a missed path from writing into ksid's own logs.
std::error_code check_session(const std::string& session) {
    if (protocol::is_valid_session_id(session)) return {};
    return std::make_error_code(std::errc::invalid_argument);
}
} // namespace

std::error_code SessionLog::append_exchange(const std::string& session, const boost::json::object& human,
                                            const boost::json::object& claude) {
    if (auto ec = check_session(session)) return ec;
    std::string lines;
    protocol::append_python_json(lines, human);
    lines += '\n';
    protocol::append_python_json(lines, claude);
    lines += '\n';
    return append_line(log_path(session), lines);
}

std::error_code SessionLog::link_latest(const std::string& session) {
    if (auto ec = check_session(session)) return ec;
    static unsigned long counter = 0;
    const std::string target = session + ".jsonl";
    // A resumed session usually finds the link in place already: two inode operations saved per turn.
    char current[512];
    const ssize_t n = ::readlink((logs_dir_ + "/latest.jsonl").c_str(), current, sizeof current);
    if (n > 0 && std::string_view(current, static_cast<std::size_t>(n)) == target) return {};
    const std::string tmp =
        logs_dir_ + "/.latest.jsonl.tmp." + std::to_string(::getpid()) + "." + std::to_string(++counter);
    if (::symlink(target.c_str(), tmp.c_str()) != 0) return {errno, std::system_category()};
    if (::rename(tmp.c_str(), (logs_dir_ + "/latest.jsonl").c_str()) != 0) {
        std::error_code ec{errno, std::system_category()};
        ::unlink(tmp.c_str());
        return ec;
    }
    return {};
}

std::error_code SessionLog::write_last_session_id(const std::string& session) {
    if (auto ec = check_session(session)) return ec;
    if (auto current = read_small_file(sockets_dir_ + "/last_session_id", 256);
        current && *current == session)
        return {};
    return write_file_atomic(sockets_dir_ + "/last_session_id", session, Durability::rename_only);
}

std::error_code SessionLog::write_last_output(const boost::json::value& output) {
    return write_file_atomic(sockets_dir_ + "/claude_last_output.json", protocol::to_python_json(output, 2),
                             Durability::rename_only);
}

} // namespace ksid::daemon
