#include "facade/http_request_framer.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>

namespace ksid::facade {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

FramingStep refused(int status, std::string reason) {
    return FramingStep{FramingStep::Kind::refused, status, std::move(reason)};
}

const char* const body_too_large = "the request body is larger than facade.max_body_bytes";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

} // namespace

std::optional<std::string> unsupported_transfer_encoding(const HttpRequest& request) {
    const auto [begin, end] = request.equal_range(http::field::transfer_encoding);
    if (begin == end) return std::nullopt;
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (request.version() < 11) return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
    std::size_t codings = 0;
    for (auto field = begin; field != end; ++field) {
        std::string_view list(field->value().data(), field->value().size());
        while (!list.empty()) {
            const auto comma = list.find(',');
            const std::string_view coding = trim(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
            if (coding.empty()) continue; // empty list elements are allowed (RFC 9110 §5.6.1)
            ++codings;
            if (!beast::iequals(coding, "chunked"))
                return "Transfer-Encoding: only chunked is supported, and nothing else may be applied";
        }
    }
    if (codings != 1) return "Transfer-Encoding: chunked must be applied exactly once";
    return std::nullopt;
}

void HttpRequestFramer::start_request(std::uint64_t max_body_bytes) {
    parser_.emplace();
    parser_->body_limit(max_body_bytes);
    parser_->header_limit(header_limit);
    header_bytes_ = 0;
}

boost::asio::mutable_buffer HttpRequestFramer::space() {
    const std::size_t room = std::min(read_size, buffer_.max_size() - buffer_.size());
    return room == 0 ? boost::asio::mutable_buffer() : buffer_.prepare(room);
}

FramingStep HttpRequestFramer::parse_header() {
    auto step = parse(true);
    // Without a length ksid can trust, what follows the header would be read as the next request.
    if (step.kind == FramingStep::Kind::ready)
        if (auto problem = unsupported_transfer_encoding(parser_->get())) return refused(400, *problem);
    return step;
}

FramingStep HttpRequestFramer::parse_body() {
    if (parser_->is_done()) return {FramingStep::Kind::ready, 0, {}};
    return parse(false);
}

// As Beast's read_some does it: the parser takes what it can of the buffered bytes; what it leaves (a
// header or chunk line not whole yet) waits for more, within the buffer's bound.
FramingStep HttpRequestFramer::parse(bool header_only) {
    parser_->eager(!header_only);
    for (;;) {
        if (header_only && parser_->is_header_done()) {
            // Beast checks its limit only while the header is incomplete, so a header it got whole in one
            // piece may be a little longer: the bound is made exact here, whatever the pieces.
            if (header_bytes_ > header_limit)
                return refused(400, "malformed HTTP request: header limit exceeded");
            return {FramingStep::Kind::ready, 0, {}};
        }
        if (!header_only && parser_->is_done()) return {FramingStep::Kind::ready, 0, {}};
        beast::error_code ec;
        std::size_t used = 0;
        if (buffer_.size() > 0) {
            used = parser_->put(buffer_.data(), ec);
            buffer_.consume(used);
            if (header_only) header_bytes_ += used;
        } else {
            ec = http::error::need_more;
        }
        if (ec == http::error::body_limit) return refused(413, body_too_large);
        if (ec && ec != http::error::need_more) {
            if (header_only) return refused(400, "malformed HTTP request: " + ec.message());
            return refused(400, "malformed HTTP request body: " + ec.message());
        }
        if (!ec && used > 0) continue;
        if (buffer_.size() == buffer_.max_size()) {
            if (header_only)
                return refused(400, "malformed HTTP request: " +
                                        beast::error_code(http::error::buffer_overflow).message());
            return refused(400, "a chunk-size line, chunk extension or trailer is longer than " +
                                    std::to_string(buffer_limit) + " bytes");
        }
        return {};
    }
}

} // namespace ksid::facade
