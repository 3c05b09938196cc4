#pragma once
// The API shim's HTTP/1.1 client: one upstream (host, port, TLS or not), a pool of keep-alive connections,
// TLS with certificate chain and host name verification (SNI set). One exchange = one POST and its
// response; how it ended tells the backend whether the upstream provably did nothing (retryable). Beast
// stays out of this header.
#include "daemon/core/cancellation.hpp"
#include "protocol/upstream_common.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ksid::daemon {

namespace asio = boost::asio;

struct UpstreamReply;

struct UpstreamExchange {
    std::string target; // path, e.g. /v1/chat/completions
    std::string body;
    bool event_stream = false; // Accept: text/event-stream
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::steady_clock::time_point deadline;
    std::size_t max_body_bytes = 16u << 20;
    // A 200 response's body goes here piece by piece as it arrives (others are collected in `body`), with
    // the reply so far (status and headers).
    std::function<void(const UpstreamReply& head, std::string_view body)> on_success_body;
};

struct UpstreamReply {
    enum class Outcome {
        response,          // a whole response arrived (status, headers, body)
        connect_failed,    // name resolution or TCP connect failed: nothing was sent
        tls_failed,        // the TLS handshake failed (certificate not trusted, wrong host): nothing was sent
        failed_after_send, // the connection failed after the request went out: it may have run
        timed_out,         // the deadline passed
        cancelled,         // its cancellation token fired
        too_large,         // the body exceeded max_body_bytes
    };
    Outcome outcome = Outcome::connect_failed;
    int status = 0;
    std::string body;          // non-200 bodies (and 200 bodies without on_success_body)
    bool body_started = false; // some of a 200 body was handed on
    std::string retry_after, retry_after_ms, session_id;
    std::string detail; // what went wrong, for logs and error replies
};

class UpstreamClient {
public:
    UpstreamClient(boost::asio::any_io_executor executor, protocol::UpstreamBase base, std::string ca_file,
                   std::chrono::milliseconds connect_timeout, std::shared_ptr<spdlog::logger> log);
    ~UpstreamClient();

    // Loads the trust store (TLS upstreams); an error text when it cannot be used.
    std::optional<std::string> init();
    boost::asio::awaitable<UpstreamReply> exchange(const UpstreamExchange& request, CancellationToken& cancel);
    const protocol::UpstreamBase& base() const { return base_; }
    std::size_t idle_connections() const;
    void close_idle(); // shutdown

private:
    struct Impl;
    protocol::UpstreamBase base_;
    std::shared_ptr<Impl> impl_;
};

} // namespace ksid::daemon
