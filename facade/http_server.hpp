#pragma once
// The facade's HTTP/1.1 server: the listener, keep-alive connections, the route table, auth before a
// body is read, one access log line per request, and shutdown. A request that cannot be read to its end
// is answered and its connection closed. It reads requests (http_reader.hpp: limits, timeouts, framing)
// and writes responses (beast_exchange.hpp: write timeouts); the endpoints (endpoints.hpp,
// chat_completions.hpp) decide what to answer. Beast stays out of this header (it is heavy to compile).
#include "facade/facade_context.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksid::facade {

// The address facade.host names for bind(): "localhost" is 127.0.0.1, anything else as written.
inline std::string facade_bind_host(const std::string& host) {
    return host == "localhost" ? "127.0.0.1" : host;
}

class HttpServer {
public:
    HttpServer(boost::asio::any_io_executor executor, FacadeDeps deps, std::vector<std::string> api_keys);
    // SIGHUP: the keys requests are checked against from now on.
    void set_api_keys(std::vector<std::string> api_keys);
    ~HttpServer();

    // Binds facade.host:facade.port, or serves `passed_fd` (a listening socket the service manager passed)
    // when it is not -1. Error text on failure.
    std::optional<std::string> listen(int passed_fd = -1);
    std::string endpoint() const;        // "host:port" actually bound
    void start();
    void stop(); // stop accepting; idle keep-alive connections close
    int listener_fd(); // RELOAD_DAEMON: the listening socket the new daemon inherits
    boost::asio::awaitable<void> wait_idle(std::chrono::steady_clock::time_point deadline);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace ksid::facade
