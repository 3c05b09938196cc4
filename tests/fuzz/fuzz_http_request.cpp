// libFuzzer target: the facade's request path without sockets. Bytes go through Beast's HTTP parser with
// the facade's limits (as the connection feeds it), and a complete request through the facade's own
// validation (facade/chat_request: hop chain, session header, chat or Anthropic messages request, model and
// tools policy, rendering) and route table.
#include "facade/chat_request.hpp"
#include "facade/routes.hpp"
#include "protocol/openai_upstream.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace http = boost::beast::http;
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
    auto view = [](boost::beast::string_view s) { return std::string_view(s.data(), s.size()); };
    const auto route = ksid::facade::facade_routes().match(view(req.method_string()), view(req.target()));
    (void)ksid::facade::dialect_of(route.route, view(req["anthropic-version"]));
    const ksid::facade::ChatHttpRequest request{req.body(), view(req["X-Session-Id"]),
                                                view(req[ksid::protocol::hop_header]), "req_fuzz"};
    ksid::facade::ChatPolicy policy;
    policy.instance_id = "00112233445566ff";
    policy.tools_allowed = size % 2 == 0;
    policy.model_problem = [](std::string_view model) -> std::optional<std::string> {
        if (model == "sonnet" || model.starts_with("claude-")) return std::nullopt;
        return "unknown model";
    };
    const bool anthropic = route.route && route.route->endpoint == ksid::facade::Endpoint::messages;
    auto plan = anthropic ? ksid::facade::plan_messages_turn(request, policy)
                          : ksid::facade::plan_chat_turn(request, policy);
    // A planned turn always has something to answer: text, or images.
    if (plan && plan->turn.prompt.empty() && plan->turn.images.empty()) __builtin_trap();
    return 0;
}
