#include "protocol/upstream_format.hpp"

#include "protocol/anthropic_upstream.hpp"
#include "protocol/openai_upstream.hpp"

namespace ksid::protocol {

UpstreamRequest upstream_request(UpstreamProvider provider, std::string_view base_path,
                                 const UpstreamTurn& turn, std::string_view api_key) {
    UpstreamRequest r;
    switch (provider) {
    case UpstreamProvider::anthropic:
        r.target = anthropic_target(base_path);
        r.headers = anthropic_headers(api_key);
        r.body = anthropic_request_body(turn);
        break;
    case UpstreamProvider::openai:
        r.target = openai_target(base_path);
        if (!api_key.empty()) r.headers.emplace_back("Authorization", "Bearer " + std::string(api_key));
        r.body = upstream_request_body(turn);
        break;
    }
    return r;
}

boost::system::result<boost::json::object, std::string>
cli_result_from_upstream(UpstreamProvider provider, std::string_view body, std::optional<std::string> session,
                         const ShimFields& fields, long long duration_ms) {
    if (provider == UpstreamProvider::anthropic)
        return cli_result_from_message(body, std::move(session), fields, duration_ms);
    return cli_result_from_completion(body, std::move(session), fields, duration_ms);
}

std::unique_ptr<StreamTranslator> upstream_stream_translator(UpstreamProvider provider,
                                                             std::optional<std::string> session,
                                                             ShimFields fields, std::size_t max_event_bytes) {
    if (provider == UpstreamProvider::anthropic)
        return std::make_unique<AnthropicStreamTranslator>(std::move(session), std::move(fields),
                                                           max_event_bytes);
    return std::make_unique<UpstreamStreamTranslator>(std::move(session), std::move(fields), max_event_bytes);
}

} // namespace ksid::protocol
