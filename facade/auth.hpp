#pragma once
// The facade's API keys: where they come from (facade.api_keys, KSID_API_KEYS, facade.api_keys_file), the
// rule that a non-loopback address needs them, and the key check (constant time).
#include "config/config.hpp"
#include "protocol/openai_chat.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::facade {

// The keys, or an error text when the facade must not start.
std::optional<std::string> resolve_api_keys(const config::Config& config, std::vector<std::string>& keys);

// nullopt when the request carries one of `keys` (or there are none), else the 401. The key comes from
// `x-api-key` (Anthropic's SDKs, Claude Code) when that header is present, else from
// `Authorization: Bearer <key>` (OpenAI's SDKs, Anthropic's with an auth token).
std::optional<protocol::OpenAIError> authenticate(std::string_view authorization, std::string_view x_api_key,
                                                  const std::vector<std::string>& keys);

bool is_loopback_host(const std::string& host);

} // namespace ksid::facade
