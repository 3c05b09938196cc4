#pragma once
// Sans-I/O: the bytes one facade connection receives become HTTP/1.1 requests, with every bound the facade
// holds before anything is known about the client. The header is at most header_limit bytes; what is held
// unparsed is at most buffer_limit bytes (which also bounds what Beast's parser must see whole but does not
// limit itself: a chunk-size line with its extensions, a trailer); the body at most max_body_bytes.
// Framing that would make the rest of a request read as the next one (a Transfer-Encoding other than
// chunked, RFC 9112 §6.3) is refused. The connection (http_reader) only moves bytes and keeps time; the
// fuzz target feeds this directly. Beast is in this header: only the facade's .cpp files include it.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ksid::facade {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// What the bytes so far came to (the framer), or a read step (http_reader, which also ends).
struct FramingStep {
    enum class Kind {
        need_more, // read more into space()
        ready,     // this part of the request (its header, or all of it) is in
        refused,   // the request cannot be read on: answer `status` with `reason`, then close
        ended,     // http_reader: the client closed or went silent past a timeout: close without an answer
    };
    Kind kind = Kind::need_more;
    int status = 0;
    std::string reason;
};

class HttpRequestFramer {
public:
    static constexpr std::size_t header_limit = 16 * 1024;
    // A whole header plus one read of 64 KiB; more is never needed at once.
    static constexpr std::size_t read_size = 64 * 1024;
    static constexpr std::size_t buffer_limit = header_limit + read_size;

    // Starts the next request, whose body may have at most max_body_bytes; bytes already received after
    // the previous request are its beginning.
    void start_request(std::uint64_t max_body_bytes);

    // Where to receive the next bytes (at most read_size; never past buffer_limit in all), then commit()
    // how many came. Empty only when parse_*() has just refused an overflow.
    boost::asio::mutable_buffer space();
    void commit(std::size_t received) { buffer_.commit(received); }

    // Parses what has been received up to the end of the header (ready), checking its framing.
    FramingStep parse_header();
    // Parses what has been received up to the end of the request (ready).
    FramingStep parse_body();

    // The request parsed so far (after a refusal, what could be parsed of it).
    const HttpRequest& request() const { return parser_->get(); }
    bool complete() const { return parser_ && parser_->is_done(); }
    // Bytes received and not yet parsed (a client's pipelined next request, or a header in pieces).
    std::size_t buffered() const { return buffer_.size(); }

private:
    FramingStep parse(bool header_only);

    boost::beast::flat_buffer buffer_{buffer_limit}; // kept across requests: it may hold the next one
    std::size_t header_bytes_ = 0;                   // of this request's header, parsed so far
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

// Why a request's Transfer-Encoding cannot be read (ksid reads exactly "chunked"), or nullopt when it can
// or there is none. Pure; exposed for the unit tests.
std::optional<std::string> unsupported_transfer_encoding(const HttpRequest& request);

} // namespace ksid::facade
