#pragma once
// RELOAD's Python modules (spec §5.3), out of process: the legacy daemon imported
// claude_modules/<module_name>.py and called its handle_output(output, process_manager) after every
// synchronous run that returned a JSON object and every asynchronous completion with a session id. ksid
// runs one Python host process for the loaded module (daemon.module_python) and writes it each such output as
// a JSON line; the host calls handle_output. The module cannot block, crash or grow the daemon: what waits
// for the host is bounded (outputs past the bound are dropped and logged), its output goes to daemon.log line
// by line, and a host that dies is logged and started again by the next RELOAD. Legacy rules kept: a module
// file that does not exist loads nothing; a RELOAD while a module is loaded re-executes the loaded one.
#include "config/config.hpp"
#include "daemon/process/persistent_child.hpp"

#include <boost/json/object.hpp>
#include <spdlog/logger.h>

#include <memory>
#include <optional>
#include <string>

namespace ksid::daemon {

class ModuleHost {
public:
    ModuleHost(asio::any_io_executor executor, const config::Config& config,
               std::shared_ptr<spdlog::logger> log);

    // RELOAD module_name: loads claude_modules/<name>.py (or re-executes the loaded module).
    void reload(const std::string& module_name);
    // A turn's output for handle_output, when a module is loaded.
    void observe(const boost::json::object& output);
    bool loaded() const { return child_ && !child_->exited(); }

    // Shutdown: SIGTERM → grace → SIGKILL, and wait until `deadline`.
    asio::awaitable<void> shutdown(std::chrono::milliseconds grace,
                                   std::chrono::steady_clock::time_point deadline);

    // The host program (python3 -c), for tests: argv[1] is the module's path.
    static const char* host_source();

private:
    void start(const std::string& path);
    void host_output(std::string_view bytes);

    asio::any_io_executor executor_;
    const config::Config& config_;
    std::shared_ptr<spdlog::logger> log_;
    std::shared_ptr<PersistentChild> child_;
    std::string module_path_; // the module the host runs (claude_modules/<name>.py)
    std::string output_line_; // the host's output up to its next newline
    bool dropping_ = false;   // outputs are being dropped (logged once per burst)
    bool stopping_ = false;
};

} // namespace ksid::daemon
