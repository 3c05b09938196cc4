#pragma once
// File descriptors at start-up: the soft RLIMIT_NOFILE is raised to the hard limit, and the connection
// caps (daemon.max_connections, facade.max_connections) are kept below what the descriptors allow, with
// room left for children's pipes and pidfds, state and log files. Under `ulimit -n 1024` 1 100 idle
// connections used to take every descriptor, and then /health and HEALTH_CHECK could not be answered.
#include "config/config.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace ksid::daemon {

struct FdLimit {
    std::size_t before = 0; // the soft limit ksid was started with
    std::size_t soft = 0;   // the soft limit now (the hard one, when raising it worked)
    std::size_t hard = 0;
    int error = 0; // errno of a failed getrlimit/setrlimit
};

// Raises the soft RLIMIT_NOFILE to the hard limit (children inherit it).
FdLimit raise_fd_limit();

// Descriptors open in this process now (/proc/self/fd), or 0 when that cannot be read.
std::size_t open_fd_count();

// Pure: lowers config.daemon.max_connections and (when the facade is enabled) config.facade.max_connections
// so that both together stay within the descriptors left after `in_use` and a reserve for children and files
// (a quarter of the rest, at least 64). Each keeps at least half of what is left if it asks for that much.
// Returns the warning to log when something was lowered.
std::optional<std::string> fit_connections_to_fds(config::Config& config, std::size_t fd_limit,
                                                  std::size_t in_use);

} // namespace ksid::daemon
