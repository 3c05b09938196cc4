#pragma once
// SIGHUP: what a running ksid takes on from a configuration read again, pure. Settings that name what was
// bound or opened at start (the socket, the PID and log files, the facade's address, which backend runs
// turns, the upstream's address and trust) keep their running values and are reported as needing a
// restart; every other changed setting is applied (limits, timeouts, models, log level, keys, backend
// settings for new turns, facade settings for new connections).
#include "config/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ksid::daemon {

struct ReloadPlan {
    config::Config next;                   // the configuration to run with from now on
    std::vector<std::string> applied;      // changed settings taken on
    std::vector<std::string> need_restart; // changed settings kept at their running values
};

// True for a setting (by path) that only a restart can change.
bool needs_restart(std::string_view path);

ReloadPlan plan_reload(const config::Config& running, const config::Config& loaded);

} // namespace ksid::daemon
