#pragma once
// One HTTP request being answered over Beast: what a handler sees of it (HttpExchange) and how the answer
// is written. Every write must make progress within facade.write_timeout: a client that stops reading is
// dropped (the stream closes the socket when its timer expires), and a stream's turn is then cancelled by
// its handler. An answer to HEAD carries no body. Beast is in this header: only the facade's .cpp files
// include it.
#include "facade/http_exchange.hpp"
#include "facade/http_reader.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace ksid::facade {

inline std::string_view as_view(boost::beast::string_view s) {
    return {s.data(), s.size()};
}

// The request's target without its query.
std::string_view request_path(const HttpRequest& req);

class BeastExchange final : public HttpExchange {
public:
    BeastExchange(boost::beast::tcp_stream& stream, const HttpRequest& req, std::string request_id,
                  std::chrono::milliseconds write_timeout);
    ~BeastExchange() override;

    std::string_view method() const override { return as_view(req_.method_string()); }
    std::string_view path() const override { return path_; }
    std::string_view query() const override;
    std::string_view header(std::string_view name) const override;
    std::string_view body() const override { return req_.body(); }
    const std::string& request_id() const override { return request_id_; }
    void set_job_id(std::string id) override { job_id_ = std::move(id); }
    const std::string& job_id() const { return job_id_; }

    // A whole response; false when it could not be written or the connection must close after it. An
    // answer to HEAD has the Content-Length of the body it leaves out (RFC 9110 §9.3.2).
    boost::asio::awaitable<bool> respond(const HttpResponse& r);

    boost::asio::awaitable<bool> start_stream(HttpResponse head) override;
    boost::asio::awaitable<bool> write_chunk(std::string data) override;
    boost::asio::awaitable<bool> end_stream() override;
    void on_client_gone(std::function<void()> gone) override;
    void abort() override { stream_.close(); }

private:
    template <class Body>
    void common_headers(boost::beast::http::response<Body>& res) const;
    // Each piece of a write within the write timeout.
    boost::asio::awaitable<bool>
    write_serialized(boost::beast::http::response_serializer<boost::beast::http::string_body>& serializer);
    boost::asio::awaitable<bool> write_buffers(std::span<const boost::asio::const_buffer> buffers);

    boost::beast::tcp_stream& stream_;
    const HttpRequest& req_;
    std::string request_id_;
    std::string_view path_;
    std::chrono::milliseconds write_timeout_;
    std::string job_id_;
    boost::asio::cancellation_signal stop_watching_;
};

} // namespace ksid::facade
