#pragma once
// Wires the daemon together: start-up in the working directory (spec §2.2), the event loop, and the
// shutdown sequence (spec §2.4 with the Recommended fixes).
#include "config/config.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

class TurnService;
class WarmPool;
class Lifecycle;
struct UpstreamStats;

// What an extension (the HTTP facade) gets to build on. The daemon does not depend on its extensions.
struct DaemonServices {
    boost::asio::any_io_executor executor;
    const config::Config& config;
    TurnService& turns;
    Lifecycle& lifecycle;
    std::shared_ptr<spdlog::logger> log;
    const UpstreamStats* upstream = nullptr; // the API shim's counters, when it is the backend
    const WarmPool* pool = nullptr;          // the warm processes, when they are the backend
};
// Starts an extension once the socket listens; an error text aborts the start-up.
using DaemonExtension = std::function<std::optional<std::string>(DaemonServices&)>;

struct DaemonOptions {
    config::Config config;
    bool skip_collision_detection = false; // --hot-reload-from
    std::vector<DaemonExtension> extensions;
};

// Runs until shutdown; returns the process exit status.
int run_daemon(DaemonOptions options);

} // namespace ksid::daemon
