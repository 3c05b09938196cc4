#pragma once
// The wire formats the API shim can speak to its upstream (api_shim.provider): OpenAI Chat Completions
// (protocol/openai_upstream) or Anthropic Messages (protocol/anthropic_upstream). Kept apart so that the
// configuration can name a provider without pulling in either format.
#include <optional>
#include <string_view>

namespace ksid::protocol {

enum class UpstreamProvider { openai, anthropic };

inline std::string_view provider_name(UpstreamProvider p) {
    return p == UpstreamProvider::anthropic ? "anthropic" : "openai";
}

inline std::optional<UpstreamProvider> parse_upstream_provider(std::string_view name) {
    if (name == "openai") return UpstreamProvider::openai;
    if (name == "anthropic") return UpstreamProvider::anthropic;
    return std::nullopt;
}

} // namespace ksid::protocol
