#pragma once
// Loading the configuration: built-in defaults, then the YAML file, then environment variables
// (USE_CLAUDE_API_SHIM, CLAUDE_API_BASE and the KSID_* names), each value validated. Any bad key or value
// is an error that names it (and the file line where there is one): the daemon never starts
// half-configured.
#include "config/config.hpp"

#include <boost/system/result.hpp>

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::config {

struct ConfigError {
    std::string message;
};

// Looks up an environment variable; injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_environment();

struct LoadRequest {
    std::optional<std::string> file;                   // --config FILE (must exist when given)
    std::string default_file = "config/api_shim.yaml"; // used only if it exists
    EnvLookup env = process_environment();
};

boost::system::result<Config, ConfigError> load_config(const LoadRequest& request);

// The same steps on YAML text, for tests and for --print-config round trips.
boost::system::result<Config, ConfigError> load_config_text(std::string_view yaml_text,
                                                            std::string_view origin, const EnvLookup& env);

// "warn" → "warning"; nullopt for an unknown level.
std::optional<std::string> normalize_log_level(std::string_view level);

// The effective configuration as YAML (secrets redacted).
std::string render_config_yaml(const Config& config);

// The paths ("queue.max_concurrent") of the settings whose values differ, in table order. Secrets are
// compared as they render (redacted): a changed key shows only when it was or becomes empty.
std::vector<std::string> changed_settings(const Config& a, const Config& b);

struct SettingDoc {
    std::string_view path;
    std::string_view env; // empty when the setting has no environment variable
    std::string_view help;
};
std::span<const SettingDoc> setting_docs();

} // namespace ksid::config
