#pragma once
// The facade's API keys: where they come from (facade.api_keys, KSID_API_KEYS, facade.api_keys_file), the
// rule that a non-loopback address needs them, and the bearer check (constant time).
#include "config/config.hpp"
#include "protocol/openai_chat.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::facade {

// The keys, or an error text when the facade must not start.
std::optional<std::string> resolve_api_keys(const config::Config& config, std::vector<std::string>& keys);

// nullopt when the Authorization header carries one of `keys` (or there are none), else the 401.
std::optional<protocol::OpenAIError> authenticate(std::string_view authorization,
                                                  const std::vector<std::string>& keys);

bool is_loopback_host(const std::string& host);

} // namespace ksid::facade
