#pragma once
// The daemon's log: logs/daemon.log (appended) and stderr, in the legacy line format
// "<local time YYYY-MM-DD HH:MM:SS,mmm> - <logger> - <LEVEL> - <message>".
#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace ksid::daemon {

// Throws std::runtime_error with a readable text when the log file cannot be opened.
std::shared_ptr<spdlog::logger> make_daemon_logger(const std::string& log_file, const std::string& level);

// spdlog's level for a configured daemon.log_level ("warning" is spdlog's "warn").
spdlog::level::level_enum log_level_of(const std::string& level);

// A stderr-only logger for the phases before the log file is known (command line, configuration).
std::shared_ptr<spdlog::logger> make_stderr_logger();

} // namespace ksid::daemon
