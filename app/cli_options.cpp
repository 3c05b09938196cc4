#include "app/cli_options.hpp"

namespace ksid::daemon {

CliParseResult parse_cli(const std::vector<std::string>& args) {
    CliParseResult r;
    auto& o = r.options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string arg = args[i];
        std::optional<std::string> inline_value;
        if (arg.starts_with("--")) {
            if (auto eq = arg.find('='); eq != std::string::npos) {
                inline_value = arg.substr(eq + 1);
                arg.resize(eq);
            }
        }
        auto value = [&](std::optional<std::string>& slot) {
            if (inline_value) {
                slot = *inline_value;
            } else if (i + 1 < args.size()) {
                slot = args[++i];
            } else {
                r.error = arg + " needs a value";
                return;
            }
            if (slot->empty()) r.error = arg + " needs a non-empty value";
        };
        auto flag = [&](bool& slot) {
            if (inline_value) r.error = arg + " takes no value";
            slot = true;
        };
        if (arg == "--socket")
            value(o.socket_path);
        else if (arg == "--hot-reload-from")
            value(o.hot_reload_from);
        else if (arg == "--config")
            value(o.config_file);
        else if (arg == "--log-level")
            value(o.log_level);
        else if (arg == "--print-config")
            flag(o.print_config);
        else if (arg == "--worker")
            flag(o.worker);
        else if (arg == "--help" || arg == "-h")
            flag(o.show_help);
        else if (arg == "--version" || arg == "-V")
            flag(o.show_version);
        else
            r.error = "unknown argument '" + args[i] + "'";
        if (r.error) return r;
    }
    return r;
}

std::string cli_usage() {
    return R"(Usage: ksid [options]

A drop-in replacement for the KSI Python daemon (daemon.py): serves the legacy JSON-over-Unix-socket
protocol in the current directory, and optionally an OpenAI-compatible HTTP API.

Options:
  --socket PATH            listening socket (default sockets/claude_daemon.sock)
  --hot-reload-from PATH   legacy option: skip collision detection (nothing is read from PATH)
  --config FILE            configuration file (default config/api_shim.yaml if present, else built-in defaults;
                           also KSID_CONFIG)
  --log-level LEVEL        trace, debug, info, warning, error, critical, off
  --print-config           print the effective configuration and exit
  --worker                 a worker daemon: run the turns queued in the Redis broker (queue.broker) with this
                           machine's claude; no socket, no HTTP, logs on stderr (README "Scale-out on Redis")
  --version                print the version and exit
  --help                   print this help and exit

Environment: USE_CLAUDE_API_SHIM, CLAUDE_API_BASE and KSID_* variables override the configuration file
(see README.md). Exit status: 0 on a clean shutdown or when a healthy daemon already serves the socket,
1 on a start-up error, 2 on a bad command line.
)";
}

} // namespace ksid::daemon
