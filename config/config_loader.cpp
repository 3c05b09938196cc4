#include "config/config_loader.hpp"

#include "protocol/key_limits.hpp"
#include "protocol/resp.hpp"

#include "config/config_values.hpp"
#include "protocol/claude_cli.hpp"
#include "protocol/upstream_common.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ksid::config {

using namespace detail; // RawValue and the typed parsers and renderers (config/config_values.hpp)

namespace {

using ApplyFn = std::function<std::optional<std::string>(Config&, const RawValue&)>;
using RenderFn = std::function<std::string(const Config&)>;

struct Setting {
    SettingDoc doc;
    ApplyFn apply; // returns an error text, or nullopt on success
    RenderFn render;
};

#define KSID_FIELD(expr)                                                                                     \
    [](Config & c) -> auto& {                                                                                \
        return c.expr;                                                                                       \
    }                                                                                                        \
    , [](const Config& c) -> const auto& {                                                                   \
        return c.expr;                                                                                       \
    }

template <class Get, class CGet, class Parse, class Render>
Setting make(std::string_view path, std::string_view env, std::string_view help, Get get, CGet cget,
             Parse parse, Render render) {
    return Setting{{path, env, help},
                   [get, parse](Config& c, const RawValue& raw) { return parse(raw, get(c)); },
                   [cget, render](const Config& c) { return render(cget(c)); }};
}

auto bool_p = [](const RawValue& r, bool& v) { return parse_bool(r, v); };
auto bool_r = [](bool v) { return std::string(v ? "true" : "false"); };
auto str_r = [](const std::string& v) { return yaml_quoted(v); };
auto secret_r = [](const std::string& v) {
    return v.empty() ? std::string("\"\"") : std::string("\"<redacted>\"");
};
auto num_r = [](auto v) { return std::to_string(v); };
auto sec_r = [](Seconds v) { return render_seconds(v); };
auto nonempty_p = [](const RawValue& r, std::string& v) { return parse_string(r, v, false); };
auto any_str_p = [](const RawValue& r, std::string& v) { return parse_string(r, v, true); };
auto uint_p = [](long long min, long long max) {
    return [min, max](const RawValue& r, auto& v) { return parse_int(r, v, min, max); };
};
auto sec_p = [](double min, double max) {
    return [min, max](const RawValue& r, Seconds& v) { return parse_seconds(r, v, min, max); };
};
auto bytes_p = [](std::size_t min, std::size_t max) {
    return [min, max](const RawValue& r, std::size_t& v) { return parse_bytes(r, v, min, max); };
};

// A name that goes into Redis keys (queue.broker_prefix, queue.worker_name): at most 64 of [A-Za-z0-9_.-].
auto redis_name_p = [](bool allow_empty) {
    return [allow_empty](const RawValue& r, std::string& v) -> std::optional<std::string> {
        if (auto e = parse_string(r, v, allow_empty)) return e;
        if (v.size() > 64) return std::string("at most 64 characters");
        for (char c : v)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
                return std::string("letters, digits, - _ . only");
        return std::nullopt;
    };
};

const std::vector<Setting>& settings() {
    static const std::vector<Setting> table = [] {
        std::vector<Setting> t;
        constexpr double day = 86400;
        // api_shim: the original plan's keys
        t.push_back(make("api_shim.enabled", "USE_CLAUDE_API_SHIM",
                         "call an upstream API (see api_shim.provider) instead of spawning claude",
                         KSID_FIELD(api_shim.enabled), bool_p, bool_r));
        t.push_back(make(
            "api_shim.base_url", "CLAUDE_API_BASE", "upstream base URL (http:// or https://)",
            KSID_FIELD(api_shim.base_url),
            [](const RawValue& r, std::string& v) -> std::optional<std::string> {
                if (auto e = parse_string(r, v, false)) return e;
                if (auto base = protocol::parse_upstream_base(v); !base) return base.error();
                return std::nullopt;
            },
            str_r));
        t.push_back(make("api_shim.timeout", "KSID_API_SHIM_TIMEOUT", "seconds one upstream call may take",
                         KSID_FIELD(api_shim.timeout), sec_p(0.1, day), sec_r));
        t.push_back(make("api_shim.retry_attempts", "KSID_API_SHIM_RETRY_ATTEMPTS",
                         "retries where the upstream provably did nothing",
                         KSID_FIELD(api_shim.retry_attempts), uint_p(0, 10), num_r));
        t.push_back(make("api_shim.api_key", "KSID_API_SHIM_API_KEY",
                         "key sent to the upstream: bearer (openai) or x-api-key (anthropic) (secret)",
                         KSID_FIELD(api_shim.api_key), any_str_p, secret_r));
        t.push_back(make("api_shim.fallback_to_direct", "KSID_API_SHIM_FALLBACK_TO_DIRECT",
                         "spawn claude when the upstream is unreachable",
                         KSID_FIELD(api_shim.fallback_to_direct), bool_p, bool_r));
        t.push_back(make("api_shim.send_metadata", "KSID_API_SHIM_SEND_METADATA",
                         "send session_id/agent_id/enable_tools as metadata",
                         KSID_FIELD(api_shim.send_metadata), bool_p, bool_r));
        t.push_back(make(
            "api_shim.model_map", "KSID_API_SHIM_MODEL_MAP",
            "model names to rewrite for the upstream (sonnet: gpt-4o)", KSID_FIELD(api_shim.model_map),
            [](const RawValue& r, std::map<std::string, std::string>& v) { return parse_model_map(r, v); },
            [](const std::map<std::string, std::string>& v) { return render_model_map(v); }));
        t.push_back(make("api_shim.ca_file", "KSID_API_SHIM_CA_FILE",
                         "PEM certificates trusted for an https upstream (empty: the system store)",
                         KSID_FIELD(api_shim.ca_file), any_str_p, str_r));
        t.push_back(make("api_shim.retry_backoff", "",
                         "seconds before the first retry (doubles, with jitter)",
                         KSID_FIELD(api_shim.retry_backoff), sec_p(0.001, 60), sec_r));
        t.push_back(make("api_shim.connect_timeout", "",
                         "seconds to connect (and TLS handshake) to the upstream",
                         KSID_FIELD(api_shim.connect_timeout), sec_p(0.1, 600), sec_r));
        t.push_back(make(
            "api_shim.provider", "KSID_API_SHIM_PROVIDER",
            "the upstream's wire format: openai (Chat Completions) or anthropic (Messages)",
            KSID_FIELD(api_shim.provider),
            [](const RawValue& r, protocol::UpstreamProvider& v) -> std::optional<std::string> {
                std::string name;
                if (auto e = parse_string(r, name, false)) return e;
                auto p = protocol::parse_upstream_provider(name);
                if (!p) return "expected openai or anthropic, got '" + name + "'";
                v = *p;
                return std::nullopt;
            },
            [](protocol::UpstreamProvider v) { return std::string(protocol::provider_name(v)); }));
        t.push_back(make("api_shim.max_tokens", "KSID_API_SHIM_MAX_TOKENS",
                         "max_tokens of an Anthropic request (the provider requires it)",
                         KSID_FIELD(api_shim.max_tokens), uint_p(1, 1'000'000), num_r));
        // dramatiq: accepted, ignored until a broker-backed queue exists
        t.push_back(make("dramatiq.broker", "", "the original plan's broker: used when queue.broker is \"dramatiq\"",
                         KSID_FIELD(dramatiq.broker), any_str_p, str_r));
        t.push_back(make("dramatiq.queue_name", "", "accepted and ignored (ksid's streams are named by queue.broker_prefix)",
                         KSID_FIELD(dramatiq.queue_name), any_str_p, str_r));
        // models
        t.push_back(make(
            "models.available", "KSID_MODELS",
            "model names clients may ask for (claude-* names are always allowed)",
            KSID_FIELD(models.available),
            [](const RawValue& r, std::vector<std::string>& v) { return parse_list(r, v); },
            [](const std::vector<std::string>& v) { return render_list(v); }));
        t.push_back(make("models.default", "KSID_DEFAULT_MODEL", "model used when a request names none",
                         KSID_FIELD(models.default_model), nonempty_p, str_r));
        // daemon
        t.push_back(make("daemon.socket", "KSID_SOCKET", "legacy Unix socket path",
                         KSID_FIELD(daemon.socket_path), nonempty_p, str_r));
        t.push_back(make("daemon.pid_file", "KSID_PID_FILE", "PID file path", KSID_FIELD(daemon.pid_file),
                         nonempty_p, str_r));
        t.push_back(make("daemon.log_file", "KSID_LOG_FILE", "log file path (appended)",
                         KSID_FIELD(daemon.log_file), nonempty_p, str_r));
        t.push_back(make(
            "daemon.log_level", "KSID_LOG_LEVEL", "trace, debug, info, warning, error, critical, off",
            KSID_FIELD(daemon.log_level),
            [](const RawValue& r, std::string& v) { return parse_log_level(r, v); }, str_r));
        t.push_back(make(
            "daemon.socket_mode", "KSID_SOCKET_MODE", "permissions of the socket file (octal)",
            KSID_FIELD(daemon.socket_mode), [](const RawValue& r, unsigned& v) { return parse_mode(r, v); },
            [](unsigned v) {
                char b[8];
                std::snprintf(b, sizeof b, "\"%04o\"", v);
                return std::string(b);
            }));
        t.push_back(make("daemon.max_line_bytes", "KSID_MAX_LINE_BYTES",
                         "longest request line (the legacy limit is 65536)",
                         KSID_FIELD(daemon.max_line_bytes), bytes_p(1024, 64u << 20), num_r));
        t.push_back(make("daemon.first_line_timeout", "KSID_FIRST_LINE_TIMEOUT",
                         "seconds a new connection may take to send its first line",
                         KSID_FIELD(daemon.first_line_timeout), sec_p(0.1, day), sec_r));
        t.push_back(make("daemon.shutdown_grace", "KSID_SHUTDOWN_GRACE",
                         "seconds between SIGTERM and SIGKILL for children at shutdown",
                         KSID_FIELD(daemon.shutdown_grace), sec_p(0, 4), sec_r));
        t.push_back(make("daemon.upgrade_timeout", "KSID_UPGRADE_TIMEOUT",
                         "RELOAD_DAEMON: seconds the new daemon has to start, and again to be ready",
                         KSID_FIELD(daemon.upgrade_timeout), sec_p(1, 600), sec_r));
        t.push_back(make("daemon.upgrade_drain_timeout", "KSID_UPGRADE_DRAIN_TIMEOUT",
                         "RELOAD_DAEMON: seconds runs in flight may take to finish in the old daemon",
                         KSID_FIELD(daemon.upgrade_drain_timeout), sec_p(0, day), sec_r));
        t.push_back(make("daemon.claude_command", "KSID_CLAUDE_COMMAND",
                         "the claude executable (name looked up in PATH, or a path)",
                         KSID_FIELD(daemon.claude_command), nonempty_p, str_r));
        t.push_back(make("daemon.max_connections", "KSID_MAX_CONNECTIONS", "open socket connections at most",
                         KSID_FIELD(daemon.max_connections), uint_p(1, 1'000'000), num_r));
        t.push_back(make("daemon.max_outbox_bytes", "KSID_MAX_OUTBOX_BYTES",
                         "bytes queued for a socket connection or HTTP stream that stops reading before it "
                         "is dropped",
                         KSID_FIELD(daemon.max_outbox_bytes), bytes_p(4096, std::size_t(1) << 30), num_r));
        t.push_back(make("daemon.write_timeout", "KSID_WRITE_TIMEOUT",
                         "seconds a socket reply or event may wait for the peer to read before it is dropped",
                         KSID_FIELD(daemon.write_timeout), sec_p(0.1, day), sec_r));
        t.push_back(make("daemon.max_offline_bytes", "KSID_MAX_OFFLINE_BYTES",
                         "bytes of direct messages queued for one offline agent (oldest dropped first)",
                         KSID_FIELD(daemon.max_offline_bytes), bytes_p(1024, std::size_t(1) << 34), num_r));
        t.push_back(
            make("daemon.max_offline_total_bytes", "KSID_MAX_OFFLINE_TOTAL_BYTES",
                 "bytes of direct messages queued for all offline agents together (oldest dropped first)",
                 KSID_FIELD(daemon.max_offline_total_bytes), bytes_p(1024, std::size_t(1) << 36), num_r));
        t.push_back(make("daemon.tools_off_means_none", "KSID_TOOLS_OFF_MEANS_NONE",
                         "SPAWN with enable_tools false gets no tool at all (--tools \"\"), not the CLI's defaults",
                         KSID_FIELD(daemon.tools_off_means_none), bool_p, bool_r));
        t.push_back(make("daemon.agent_command", "KSID_AGENT_COMMAND",
                         "what SPAWN_AGENT runs (split on spaces; --id, --profile, --socket appended)",
                         KSID_FIELD(daemon.agent_command), nonempty_p, str_r));
        t.push_back(make("daemon.max_agent_processes", "KSID_MAX_AGENT_PROCESSES",
                         "SPAWN_AGENT processes running at once (more are refused with SPAWN_AGENT_FAILED)",
                         KSID_FIELD(daemon.max_agent_processes), uint_p(1, 100'000), num_r));
        t.push_back(make("daemon.module_host", "KSID_MODULE_HOST",
                         "RELOAD module_name runs claude_modules/<name>.py's handle_output after each turn",
                         KSID_FIELD(daemon.module_host), bool_p, bool_r));
        t.push_back(make("daemon.module_python", "KSID_MODULE_PYTHON",
                         "the Python that hosts RELOAD's module (a name looked up in PATH, or a path)",
                         KSID_FIELD(daemon.module_python), nonempty_p, str_r));
        // queue
        t.push_back(make("queue.max_concurrent", "KSID_MAX_CONCURRENT", "claude runs at once",
                         KSID_FIELD(queue.max_concurrent), uint_p(1, 1024), num_r));
        t.push_back(make("queue.max_pending", "KSID_MAX_PENDING", "runs waiting for a slot at most",
                         KSID_FIELD(queue.max_pending), uint_p(0, 1'000'000), num_r));
        t.push_back(make("queue.run_time_limit", "KSID_RUN_TIME_LIMIT",
                         "seconds one run may take before its process group is killed",
                         KSID_FIELD(queue.run_time_limit), sec_p(0.1, 7 * day), sec_r));
        t.push_back(make("queue.kill_grace", "KSID_KILL_GRACE",
                         "seconds between SIGTERM and SIGKILL when a run is stopped",
                         KSID_FIELD(queue.kill_grace), sec_p(0, 60), sec_r));
        t.push_back(make("queue.max_output_bytes", "KSID_MAX_OUTPUT_BYTES",
                         "stdout+stderr one run may produce", KSID_FIELD(queue.max_output_bytes),
                         bytes_p(1024, std::size_t(1) << 32), num_r));
        t.push_back(make("queue.broker", "KSID_QUEUE_BROKER",
                         "redis://host:port/db: the queue lives in Redis and `ksid --worker` daemons run the "
                         "turns (\"dramatiq\": dramatiq.broker; env DRAMATIQ_BROKER too; \"\": in-process)",
                         KSID_FIELD(queue.broker), any_str_p, [](const std::string& v) {
                             // A password in the URL is a secret: never printed.
                             std::string why;
                             auto a = protocol::parse_redis_url(v, why);
                             if (!a || a->password.empty()) return yaml_quoted(v);
                             return yaml_quoted("redis://" + (a->user.empty() ? "" : a->user) + ":(secret)@" +
                                                a->text().substr(8));
                         }));
        t.push_back(make("queue.broker_prefix", "KSID_QUEUE_BROKER_PREFIX",
                         "the Redis key prefix (fronts and workers of one deployment share it)",
                         KSID_FIELD(queue.broker_prefix),
                         redis_name_p(false),
                         str_r));
        t.push_back(make("queue.visibility_timeout", "KSID_QUEUE_VISIBILITY_TIMEOUT",
                         "seconds after which a job claimed by a worker that stopped is taken back",
                         KSID_FIELD(queue.visibility_timeout), sec_p(1, 3600), sec_r));
        t.push_back(make("queue.max_deliveries", "KSID_QUEUE_MAX_DELIVERIES",
                         "deliveries of a job that never started before it goes to the dead-letter stream",
                         KSID_FIELD(queue.max_deliveries), uint_p(1, 100), num_r));
        t.push_back(make("queue.worker_name", "KSID_WORKER_NAME",
                         "this worker's name in Redis (empty: <hostname>-<pid>)", KSID_FIELD(queue.worker_name),
                         redis_name_p(true),
                         str_r));
        // facade
        t.push_back(make("facade.enabled", "KSID_FACADE_ENABLED", "serve the OpenAI-compatible HTTP API",
                         KSID_FIELD(facade.enabled), bool_p, bool_r));
        t.push_back(make("facade.host", "KSID_FACADE_HOST", "listen address (non-loopback needs API keys)",
                         KSID_FIELD(facade.host), nonempty_p, str_r));
        t.push_back(make("facade.port", "KSID_FACADE_PORT", "listen port", KSID_FIELD(facade.port),
                         uint_p(1, 65535), num_r));
        t.push_back(make(
            "facade.api_keys", "KSID_API_KEYS", "bearer keys clients must send (secret)",
            KSID_FIELD(facade.api_keys),
            [](const RawValue& r, std::vector<std::string>& v) { return parse_list(r, v); },
            [](const std::vector<std::string>& v) { return render_list(v, true); }));
        t.push_back(make(
            "facade.admin_keys", "KSID_ADMIN_KEYS", "keys that may use /admin and /dashboard (secret)",
            KSID_FIELD(facade.admin_keys),
            [](const RawValue& r, std::vector<std::string>& v) { return parse_list(r, v); },
            [](const std::vector<std::string>& v) { return render_list(v, true); }));
        t.push_back(make("facade.api_keys_file", "KSID_API_KEYS_FILE", "file with one bearer key per line",
                         KSID_FIELD(facade.api_keys_file), any_str_p, str_r));
        t.push_back(make("facade.enable_tools", "KSID_FACADE_ENABLE_TOOLS",
                         "let HTTP clients turn on claude's tools", KSID_FIELD(facade.enable_tools), bool_p,
                         bool_r));
        t.push_back(make("facade.max_body_bytes", "KSID_FACADE_MAX_BODY_BYTES", "largest request body",
                         KSID_FIELD(facade.max_body_bytes), bytes_p(1024, std::size_t(1) << 30), num_r));
        t.push_back(make("facade.max_images", "", "images per request at most", KSID_FIELD(facade.max_images),
                         uint_p(0, 1000), num_r));
        t.push_back(make("facade.max_image_bytes", "", "largest image (decoded)", KSID_FIELD(facade.max_image_bytes),
                         bytes_p(1024, std::size_t(1) << 30), num_r));
        t.push_back(make("facade.max_images_total_bytes", "", "all of a request's images (decoded)",
                         KSID_FIELD(facade.max_images_total_bytes), bytes_p(1024, std::size_t(1) << 32), num_r));
        t.push_back(make("facade.max_connections", "KSID_FACADE_MAX_CONNECTIONS",
                         "open HTTP connections at most", KSID_FIELD(facade.max_connections),
                         uint_p(1, 100'000), num_r));
        t.push_back(make("facade.header_timeout", "", "seconds to receive request headers",
                         KSID_FIELD(facade.header_timeout), sec_p(0.1, day), sec_r));
        t.push_back(make("facade.body_timeout", "", "seconds to receive a request body",
                         KSID_FIELD(facade.body_timeout), sec_p(0.1, day), sec_r));
        t.push_back(make("facade.idle_timeout", "", "seconds a keep-alive connection may idle",
                         KSID_FIELD(facade.idle_timeout), sec_p(0.1, day), sec_r));
        t.push_back(make("facade.write_timeout", "KSID_FACADE_WRITE_TIMEOUT",
                         "seconds a response or stream may wait for the client to read before it is dropped",
                         KSID_FIELD(facade.write_timeout), sec_p(0.1, day), sec_r));
        t.push_back(make("facade.keepalive_interval", "", "seconds between SSE keepalive comments",
                         KSID_FIELD(facade.keepalive_interval), sec_p(0.1, 3600), sec_r));
        // usage
        t.push_back(make("usage.enabled", "KSID_USAGE_ENABLED",
                         "keys with limits and the usage ledger (usage.database)", KSID_FIELD(usage.enabled),
                         bool_p, bool_r));
        t.push_back(make("usage.database", "KSID_USAGE_DATABASE",
                         "the SQLite file of API keys and usage records", KSID_FIELD(usage.database),
                         nonempty_p, str_r));
        t.push_back(make("usage.retention_days", "KSID_USAGE_RETENTION_DAYS",
                         "days usage records are kept", KSID_FIELD(usage.retention_days),
                         uint_p(1, 36500), num_r));
        t.push_back(make("usage.local_limits", "KSID_LOCAL_LIMITS",
                         "the socket clients' limits, as `ksid keys` options: \"concurrent=2 rpm=30\"",
                         KSID_FIELD(usage.local_limits), any_str_p, str_r));
        // pool
        t.push_back(make("pool.enabled", "KSID_POOL_ENABLED", "run turns on warm claude processes",
                         KSID_FIELD(pool.enabled), bool_p, bool_r));
        t.push_back(make("pool.max_processes", "KSID_POOL_MAX_PROCESSES", "warm processes at most",
                         KSID_FIELD(pool.max_processes), uint_p(1, 256), num_r));
        t.push_back(make("pool.memory_budget", "KSID_POOL_MEMORY_BUDGET", "resident memory of all warm processes",
                         KSID_FIELD(pool.memory_budget), bytes_p(std::size_t(64) << 20, std::size_t(1) << 40),
                         num_r));
        t.push_back(make("pool.spares", "", "idle pre-started processes kept per recently used key",
                         KSID_FIELD(pool.spares), uint_p(0, 16), num_r));
        t.push_back(make("pool.prestart", "", "start a spare for SPAWN's default model at start-up",
                         KSID_FIELD(pool.prestart), bool_p, bool_r));
        t.push_back(make("pool.idle_ttl", "", "seconds an idle session process is kept",
                         KSID_FIELD(pool.idle_ttl), sec_p(1, 7 * day), sec_r));
        t.push_back(make("pool.max_turns", "", "turns after which a process is recycled",
                         KSID_FIELD(pool.max_turns), uint_p(1, 1'000'000), num_r));
        t.push_back(make("pool.max_age", "", "seconds after which an idle process is recycled",
                         KSID_FIELD(pool.max_age), sec_p(1, 30 * day), sec_r));
        t.push_back(make("pool.max_process_rss", "", "resident memory after which an idle process is recycled",
                         KSID_FIELD(pool.max_process_rss), bytes_p(std::size_t(16) << 20, std::size_t(1) << 40),
                         num_r));
        t.push_back(make("pool.output_idle_limit", "", "seconds without output after which a turn's process is killed",
                         KSID_FIELD(pool.output_idle_limit), sec_p(1, day), sec_r));
        t.push_back(make("pool.interrupt_drain", "", "seconds to wait for an interrupted turn's result",
                         KSID_FIELD(pool.interrupt_drain), sec_p(0.1, 60), sec_r));
        t.push_back(make("pool.tool_result_wait", "", "seconds a turn awaiting client tool results keeps its process",
                         KSID_FIELD(pool.tool_result_wait), sec_p(1, day), sec_r));
        return t;
    }();
    return table;
}

const Setting* find_setting(std::string_view path) {
    for (const auto& s : settings())
        if (s.doc.path == path) return &s;
    return nullptr;
}

std::string at_line(std::string_view origin, const YAML::Mark& mark) {
    if (mark.is_null()) return std::string(origin);
    return std::string(origin) + ":" + std::to_string(mark.line + 1);
}

std::optional<ConfigError> apply_yaml(Config& cfg, const YAML::Node& root, std::string_view origin) {
    if (!root || root.IsNull()) return std::nullopt;
    if (!root.IsMap())
        return ConfigError{at_line(origin, root.Mark()) + ": the top level must be a mapping of sections"};
    for (const auto& section : root) {
        const auto name = section.first.as<std::string>();
        const bool known_section = std::any_of(settings().begin(), settings().end(), [&](const Setting& s) {
            return s.doc.path.substr(0, s.doc.path.find('.')) == name;
        });
        if (!known_section)
            return ConfigError{at_line(origin, section.first.Mark()) + ": unknown section '" + name +
                               "' (known: api_shim, dramatiq, models, daemon, queue, facade, pool, usage)"};
        if (name == "dramatiq") cfg.dramatiq.configured = true;
        if (section.second.IsNull()) continue;
        if (!section.second.IsMap())
            return ConfigError{at_line(origin, section.second.Mark()) + ": section '" + name +
                               "' must be a mapping"};
        for (const auto& entry : section.second) {
            const auto key = name + "." + entry.first.as<std::string>();
            const Setting* s = find_setting(key);
            if (!s) return ConfigError{at_line(origin, entry.first.Mark()) + ": unknown key '" + key + "'"};
            RawValue raw;
            if (entry.second.IsMap() && key == "api_shim.model_map") {
                raw.is_list = raw.is_map = true;
                for (const auto& item : entry.second) {
                    if (!item.second.IsScalar())
                        return ConfigError{at_line(origin, item.second.Mark()) + ": " + key +
                                           ": values must be plain names"};
                    raw.items.push_back(item.first.Scalar() + "=" + item.second.Scalar());
                }
            } else if (entry.second.IsSequence()) {
                raw.is_list = true;
                for (const auto& item : entry.second) {
                    if (!item.IsScalar())
                        return ConfigError{at_line(origin, item.Mark()) + ": " + key +
                                           ": list items must be plain values"};
                    raw.items.push_back(item.Scalar());
                }
            } else if (entry.second.IsScalar()) {
                raw.text = entry.second.Scalar();
            } else if (entry.second.IsNull()) {
                return ConfigError{at_line(origin, entry.first.Mark()) + ": " + key + ": has no value"};
            } else {
                return ConfigError{at_line(origin, entry.second.Mark()) + ": " + key +
                                   ": expected a value, not a mapping"};
            }
            if (auto err = s->apply(cfg, raw))
                return ConfigError{at_line(origin, entry.second.Mark()) + ": " + key + ": " + *err};
        }
    }
    return std::nullopt;
}

std::optional<ConfigError> apply_environment(Config& cfg, const EnvLookup& env) {
    for (const auto& s : settings()) {
        if (s.doc.env.empty()) continue;
        auto value = env(s.doc.env);
        if (!value || value->empty()) continue;
        RawValue raw;
        raw.text = *value;
        if (auto err = s.apply(cfg, raw))
            return ConfigError{"environment variable " + std::string(s.doc.env) + " (" +
                               std::string(s.doc.path) + "): " + *err};
    }
    return std::nullopt;
}

std::optional<ConfigError> check_consistency(const Config& cfg) {
    if (cfg.models.available.empty()) return ConfigError{"models.available: must list at least one model"};
    {
        protocol::KeyLimits local;
        if (auto err = protocol::apply_key_limit_options(cfg.usage.local_limits, local))
            return ConfigError{"usage.local_limits: " + *err};
    }
    for (const auto& m : cfg.models.available)
        if (!protocol::is_valid_model_name(m))
            return ConfigError{"models.available: '" + m +
                               "' is not a valid model name (letters, digits, - _ . :, not starting with -)"};
    if (!protocol::is_valid_model_name(cfg.models.default_model))
        return ConfigError{"models.default: '" + cfg.models.default_model + "' is not a valid model name"};
    if (cfg.daemon.claude_command.front() == '-')
        return ConfigError{"daemon.claude_command: must not start with '-'"};
    return std::nullopt;
}

boost::system::result<Config, ConfigError> finish(Config cfg, const EnvLookup& env) {
    if (auto err = apply_environment(cfg, env)) return *err;
    // The original plan's broker: DRAMATIQ_BROKER, or queue.broker "dramatiq" for dramatiq.broker. A
    // dramatiq section alone (KSI's own api_shim.yaml has one) keeps the in-process queue, as the Python
    // daemon never used it.
    if (cfg.queue.broker.empty())
        if (auto v = env("DRAMATIQ_BROKER"); v && !v->empty()) cfg.queue.broker = *v;
    if (cfg.queue.broker == "dramatiq") cfg.queue.broker = cfg.dramatiq.broker;
    if (!cfg.queue.broker.empty()) {
        std::string why;
        if (!protocol::parse_redis_url(cfg.queue.broker, why))
            return ConfigError{"queue.broker: " + why + " (got '" + cfg.queue.broker + "')"};
    }
    if (auto err = check_consistency(cfg)) return *err;
    return cfg;
}

} // namespace

std::optional<std::string> normalize_log_level(std::string_view level) {
    RawValue raw;
    raw.text = std::string(level);
    std::string out;
    if (parse_log_level(raw, out)) return std::nullopt;
    return out;
}

EnvLookup process_environment() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

boost::system::result<Config, ConfigError> load_config_text(std::string_view yaml_text,
                                                            std::string_view origin, const EnvLookup& env) {
    Config cfg;
    cfg.source = std::string(origin);
    try {
        const YAML::Node root = YAML::Load(std::string(yaml_text));
        if (auto err = apply_yaml(cfg, root, origin)) return *err;
    } catch (const YAML::Exception& e) {
        return ConfigError{at_line(origin, e.mark) + ": invalid YAML: " + e.msg};
    }
    return finish(std::move(cfg), env);
}

boost::system::result<Config, ConfigError> load_config(const LoadRequest& request) {
    std::string path;
    if (request.file) {
        path = *request.file;
    } else {
        std::error_code ec;
        if (std::filesystem::exists(request.default_file, ec)) path = request.default_file;
    }
    if (path.empty()) {
        Config cfg;
        cfg.source = "built-in defaults";
        return finish(std::move(cfg), request.env);
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return ConfigError{path + ": cannot read the configuration file: " + std::strerror(errno)};
    std::stringstream ss;
    ss << in.rdbuf();
    return load_config_text(ss.str(), path, request.env);
}

std::string render_config_yaml(const Config& cfg) {
    std::string out = "# effective configuration (source: " + cfg.source + "; environment applied)\n";
    std::string section;
    for (const auto& s : settings()) {
        const auto dot = s.doc.path.find('.');
        const auto sec = std::string(s.doc.path.substr(0, dot));
        if (sec != section) {
            out += sec + ":\n";
            section = sec;
        }
        out += "  " + std::string(s.doc.path.substr(dot + 1)) + ": " + s.render(cfg) + "\n";
    }
    return out;
}

std::vector<std::string> changed_settings(const Config& a, const Config& b) {
    std::vector<std::string> out;
    for (const auto& s : settings())
        if (s.render(a) != s.render(b)) out.emplace_back(s.doc.path);
    return out;
}

std::span<const SettingDoc> setting_docs() {
    static const std::vector<SettingDoc> docs = [] {
        std::vector<SettingDoc> d;
        for (const auto& s : settings())
            d.push_back(s.doc);
        return d;
    }();
    return docs;
}

} // namespace ksid::config
