#pragma once
// Wires the daemon together: start-up in the working directory (spec §2.2), the event loop, and the
// shutdown sequence (spec §2.4 with the Recommended fixes).
#include "config/config.hpp"

#include <memory>
#include <string>

namespace ksid::daemon {

struct DaemonOptions {
    config::Config config;
    bool skip_collision_detection = false; // --hot-reload-from
};

// Runs until shutdown; returns the process exit status.
int run_daemon(const DaemonOptions& options);

} // namespace ksid::daemon
