// libFuzzer target: the facade's request path without sockets. Bytes go through the facade's own framer
// (facade/http_request_framer: every pre-auth bound, the Transfer-Encoding check, pipelined requests) in
// two ways, all at once as fast as the bounds allow and in pieces sized by the input, which must come to
// the same requests and the same refusal (see agree()); then a complete request goes through the facade's
// validation (facade/chat_request: hop chain, session header, chat or Anthropic messages request, model and
// tools policy, rendering) and route table.
#include "facade/chat_request.hpp"
#include "facade/http_request_framer.hpp"
#include "facade/routes.hpp"
#include "protocol/openai_upstream.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace {

using ksid::facade::FramingStep;
using ksid::facade::HttpRequest;
using ksid::facade::HttpRequestFramer;

std::string_view view(boost::beast::string_view s) {
    return {s.data(), s.size()};
}

struct Framed {
    std::vector<std::string> requests; // method, target and body of each complete request
    int refused_status = 0;
    std::string refused_reason;
    bool starved = false; // the input ended while the framer needed more
    HttpRequest first;    // the first complete request
};

bool prefix_of(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Whether two framings of the same bytes agree. Beast may see a malformed header line before the header
// is whole when it has more of it at once, so a framing that ran out of input may have seen less: its
// requests are then a prefix of the other's. Otherwise the same requests, and the same refusal status.
bool agree(const Framed& a, const Framed& b) {
    if (a.starved) return prefix_of(a.requests, b.requests);
    if (b.starved) return prefix_of(b.requests, a.requests);
    return a.requests == b.requests && a.refused_status == b.refused_status;
}

// Feeds `input` to a framer, `piece(i)` bytes at a time at most, for up to four pipelined requests.
template <class Piece>
Framed frame(std::string_view input, Piece piece) {
    constexpr std::uint64_t max_body = 256 * 1024;
    Framed out;
    HttpRequestFramer framer;
    std::size_t pos = 0;
    for (int r = 0; r < 4; ++r) {
        framer.start_request(max_body);
        bool header = true;
        for (std::size_t round = 0;; ++round) {
            const FramingStep step = header ? framer.parse_header() : framer.parse_body();
            if (framer.buffered() > HttpRequestFramer::buffer_limit) __builtin_trap(); // the pre-auth bound
            if (step.kind == FramingStep::Kind::refused) {
                if (step.status != 400 && step.status != 413) __builtin_trap();
                out.refused_status = step.status;
                out.refused_reason = step.reason;
                return out;
            }
            if (step.kind == FramingStep::Kind::ready) {
                if (header) {
                    header = false;
                    continue;
                }
                break;
            }
            if (pos == input.size()) { // the client stopped sending
                out.starved = true;
                return out;
            }
            auto space = framer.space();
            if (space.size() == 0 || space.size() > HttpRequestFramer::read_size) __builtin_trap();
            const std::size_t n = std::min({space.size(), input.size() - pos, piece(round)});
            std::memcpy(space.data(), input.data() + pos, n);
            framer.commit(n);
            pos += n;
        }
        const auto& req = framer.request();
        if (req.body().size() > max_body) __builtin_trap();
        out.requests.push_back(std::string(view(req.method_string())) + ' ' +
                               std::string(view(req.target())) + ' ' + req.body());
        if (r == 0) out.first = req;
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::size_t seed = data[0];
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    const Framed whole = frame(input, [](std::size_t) { return HttpRequestFramer::read_size; });
    const Framed pieces =
        frame(input, [seed](std::size_t round) { return 1 + (seed * 7 + round * 13) % 97; });
    if (!agree(whole, pieces)) __builtin_trap(); // how bytes arrive never changes what they mean
    if (whole.requests.empty()) return 0;

    const auto& req = whole.first;
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
