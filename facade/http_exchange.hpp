#pragma once
// What a facade handler sees of one HTTP request and how it answers, without Beast (it stays in
// beast_exchange.cpp): the request's method, path, headers and body, and either one whole response or a
// chunked stream (SSE). The server implements it per request (BeastExchange).
#include "facade/http_response.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ksid::facade {

class HttpExchange {
public:
    virtual ~HttpExchange() = default;
    virtual std::string_view method() const = 0;
    virtual std::string_view path() const = 0; // the target without its query
    virtual std::string_view query() const { return {}; } // what follows '?' ("" when nothing does)
    virtual std::string_view header(std::string_view name) const = 0;
    virtual std::string_view body() const = 0;
    virtual const std::string& request_id() const = 0;
    // The job serving this request, for the access log line.
    virtual void set_job_id(std::string id) = 0;

    // The response's head with a chunked body: false when the client is gone.
    virtual boost::asio::awaitable<bool> start_stream(HttpResponse head) = 0;
    virtual boost::asio::awaitable<bool> write_chunk(std::string data) = 0;
    virtual boost::asio::awaitable<bool> end_stream() = 0;
    // Calls `gone` once if the client disconnects before the response ends (a pipelined request is not a
    // disconnect). Stops watching when the exchange ends.
    virtual void on_client_gone(std::function<void()> gone) = 0;
    // Drops the connection at once; a write under way fails.
    virtual void abort() = 0;

    // Who asks (set by authentication): the tenant's name, "" when the facade has no keys.
    const std::string& tenant() const { return tenant_; }
    void set_tenant(std::string tenant) { tenant_ = std::move(tenant); }
    // Headers every response to this request carries (a tenant's rate-limit state).
    std::vector<std::pair<std::string, std::string>> extra_headers;

private:
    std::string tenant_;
};

} // namespace ksid::facade
