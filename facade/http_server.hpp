#pragma once
// The OpenAI-compatible HTTP facade: a Beast HTTP/1.1 listener on the daemon's event loop. Beast stays out
// of this header (it is heavy to compile); everything lives in http_server.cpp.
#include "config/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {
class ClaudeProcessManager;
class JobQueue;
struct UpstreamStats;
} // namespace ksid::daemon

namespace ksid::facade {

struct FacadeDeps {
    const config::Config& config;
    daemon::ClaudeProcessManager& manager;
    daemon::JobQueue& queue;
    std::shared_ptr<spdlog::logger> log;
    const daemon::UpstreamStats* upstream = nullptr; // the API shim's counters, when it is the backend
};

// The API keys from facade.api_keys, KSID_API_KEYS (already in the config) and facade.api_keys_file, and
// the rule that a non-loopback address needs them. An error text when the facade must not start.
std::optional<std::string> resolve_api_keys(const config::Config& config, std::vector<std::string>& keys);

class HttpServer {
public:
    HttpServer(boost::asio::any_io_executor executor, FacadeDeps deps, std::vector<std::string> api_keys);
    ~HttpServer();

    std::optional<std::string> listen(); // error text on failure
    std::string endpoint() const;        // "host:port" actually bound
    void start();
    void stop(); // stop accepting; idle keep-alive connections close
    boost::asio::awaitable<void> wait_idle(std::chrono::steady_clock::time_point deadline);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace ksid::facade
