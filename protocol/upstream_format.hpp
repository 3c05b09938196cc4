#pragma once
// The one place that picks the upstream wire format by api_shim.provider: the request a turn becomes
// (target path, the provider's own headers, body) and the translator of its answer. The backend calls only
// these, so it reads the same for every provider.
#include "protocol/upstream_common.hpp"
#include "protocol/upstream_provider.hpp"

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ksid::protocol {

struct UpstreamRequest {
    std::string target; // the path, e.g. /v1/chat/completions or /v1/messages
    std::vector<std::pair<std::string, std::string>> headers; // authentication and version
    std::string body;
};

// base_path: UpstreamBase::path. api_key: sent as a bearer key (openai) or x-api-key (anthropic), if set.
UpstreamRequest upstream_request(UpstreamProvider provider, std::string_view base_path,
                                 const UpstreamTurn& turn, std::string_view api_key);

// A non-streaming 200 answer → the CLI result object (see cli_result_from_completion / _from_message).
boost::system::result<boost::json::object, std::string>
cli_result_from_upstream(UpstreamProvider provider, std::string_view body, std::optional<std::string> session,
                         const ShimFields& fields, long long duration_ms);

// The translator of a streamed 200 answer.
std::unique_ptr<StreamTranslator> upstream_stream_translator(UpstreamProvider provider,
                                                             std::optional<std::string> session,
                                                             ShimFields fields, std::size_t max_event_bytes);

} // namespace ksid::protocol
