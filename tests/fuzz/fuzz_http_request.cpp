// libFuzzer target: the facade's request path without sockets. Bytes go through Beast's HTTP parser with
// the facade's limits (as the connection feeds it), and a complete request through what the facade does
// with it: the hop chain, the session header and the chat request validation and rendering.
#include "protocol/openai_chat.hpp"
#include "protocol/openai_upstream.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace http = boost::beast::http;
    using namespace ksid::protocol;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(4 * 1024 * 1024);
    boost::beast::error_code ec;
    // Feed in two pieces, as a connection may deliver them.
    const std::size_t cut = size ? data[0] % (size + 1) : 0;
    std::size_t used = parser.put(boost::asio::buffer(data, cut), ec);
    if (ec == http::error::need_more) ec = {};
    if (!ec) {
        std::string rest(reinterpret_cast<const char*>(data) + used, size - used);
        while (!ec && !rest.empty() && !parser.is_done()) {
            const auto n = parser.put(boost::asio::buffer(rest), ec);
            if (n == 0) break;
            rest.erase(0, n);
        }
    }
    if (ec || !parser.is_done()) return 0;
    const auto& req = parser.get();
    const auto hops = req[hop_header];
    (void)check_hop_chain(std::string_view(hops.data(), hops.size()), "00112233445566ff");
    std::optional<std::string_view> session;
    if (auto h = req["X-Session-Id"]; !h.empty()) session = std::string_view(h.data(), h.size());
    auto chat = parse_chat_request(req.body(), session);
    if (chat) (void)render_chat_prompt(*chat);
    return 0;
}
