#pragma once
// ksid's command line: the legacy daemon.py options plus ksid's own.
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

struct CliOptions {
    std::optional<std::string> socket_path;     // --socket PATH (legacy)
    std::optional<std::string> hot_reload_from; // --hot-reload-from PATH (legacy: skips collision detection)
    std::optional<std::string> config_file;     // --config FILE
    std::optional<std::string> log_level;       // --log-level LEVEL
    bool print_config = false;
    bool worker = false; // --worker: run turns from the Redis broker (queue.broker), serve nothing
    bool show_help = false;
    bool show_version = false;
};

struct CliParseResult {
    CliOptions options;
    std::optional<std::string> error; // set when the command line is invalid
};

CliParseResult parse_cli(const std::vector<std::string>& args);
std::string cli_usage();

} // namespace ksid::daemon
