#pragma once
// The on-disk traces of Claude runs (spec §6.4, §9.1, §9.3): claude_logs/<session>.jsonl (two lines per
// run, appended in one write), the claude_logs/latest.jsonl link, sockets/last_session_id and
// sockets/claude_last_output.json. Convenience files are replaced atomically by rename (no fsync). A session
// id that is not valid (protocol/claude_cli.hpp: reserved names included) names no file: invalid_argument.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <system_error>

namespace ksid::daemon {

class SessionLog {
public:
    SessionLog(std::string logs_dir = "claude_logs", std::string sockets_dir = "sockets")
        : logs_dir_(std::move(logs_dir)), sockets_dir_(std::move(sockets_dir)) {}

    std::error_code append_exchange(const std::string& session, const boost::json::object& human_line,
                                    const boost::json::object& claude_line);
    // Points latest.jsonl at "<session>.jsonl", replacing any old link, dangling or not.
    std::error_code link_latest(const std::string& session);
    std::error_code write_last_session_id(const std::string& session);
    std::error_code write_last_output(const boost::json::value& output);

    std::string log_path(const std::string& session) const { return logs_dir_ + "/" + session + ".jsonl"; }

private:
    std::string logs_dir_;
    std::string sockets_dir_;
};

} // namespace ksid::daemon
