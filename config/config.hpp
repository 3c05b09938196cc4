#pragma once
// ksid's typed configuration. Defaults are safe and match config/api_shim.yaml as shipped.
#include "protocol/upstream_provider.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ksid::config {

using Seconds = std::chrono::duration<double>;

// A setting's duration as the timers and deadlines take it.
inline std::chrono::milliseconds to_ms(Seconds s) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

struct ApiShimSettings {
    bool enabled = false;
    std::string base_url = "http://localhost:8000/v1";
    Seconds timeout{330}; // one upstream call; never below queue.run_time_limit
    unsigned retry_attempts = 3;
    std::string api_key; // bearer key for the upstream (secret: never printed)
    bool fallback_to_direct = true;
    bool send_metadata = true;
    std::map<std::string, std::string> model_map; // client model name → upstream model name
    std::string ca_file;        // PEM bundle trusted for https:// upstreams (empty: the system's store)
    Seconds retry_backoff{0.5}; // first retry delay; doubles per attempt, with jitter
    Seconds connect_timeout{10};
    // The upstream's wire format: OpenAI Chat Completions ({base_url}/chat/completions) or Anthropic
    // Messages ({base_url}/v1/messages, /v1 not doubled).
    protocol::UpstreamProvider provider = protocol::UpstreamProvider::openai;
    unsigned max_tokens = 8192; // Anthropic requests must name it
};

// Accepted for compatibility with the original plan; nothing connects to a broker yet.
struct DramatiqSettings {
    std::string broker = "redis://localhost:6379";
    std::string queue_name = "claude_requests";
    bool configured = false; // a dramatiq section was present
};

struct ModelSettings {
    std::vector<std::string> available{"sonnet", "opus", "haiku"};
    std::string default_model = "sonnet";
};

struct DaemonSettings {
    std::string socket_path = "sockets/claude_daemon.sock";
    std::string pid_file = "sockets/claude_daemon.pid";
    std::string log_file = "logs/daemon.log";
    std::string log_level = "info";
    unsigned socket_mode = 0600;
    std::size_t max_line_bytes = 65536;
    Seconds first_line_timeout{60};
    Seconds shutdown_grace{3}; // SIGTERM → SIGKILL for children at shutdown
    Seconds upgrade_timeout{15};        // RELOAD_DAEMON: the new daemon's hello, then its ready, each
    Seconds upgrade_drain_timeout{600}; // RELOAD_DAEMON: runs in flight get this long in the old daemon
    std::string claude_command = "claude";
    std::size_t max_connections = 10000;
    std::size_t max_outbox_bytes = 8u << 20; // per connection (and HTTP stream), for peers that stop reading
    Seconds write_timeout{30}; // a reply or event that makes no progress this long drops the connection
    std::size_t max_offline_bytes = 4u << 20;         // direct messages queued for one offline agent
    std::size_t max_offline_total_bytes = 256u << 20; // ... and for all of them together
    // SPAWN with enable_tools false: no tool at all (--tools ""), instead of the legacy CLI defaults.
    bool tools_off_means_none = false;
    // SPAWN_AGENT runs this (split on spaces) with --id ID --profile PROFILE --socket PATH appended.
    std::string agent_command = "python3 daemon/agent_process.py";
    std::size_t max_agent_processes = 64; // SPAWN_AGENT processes running at once
    // RELOAD module_name runs claude_modules/<name>.py's handle_output in a host process of this Python.
    bool module_host = true;
    std::string module_python = "python3";
};

struct QueueSettings {
    unsigned max_concurrent = 4;
    unsigned max_pending = 64;
    Seconds run_time_limit{300};
    Seconds kill_grace{3};
    std::size_t max_output_bytes = 16 * 1024 * 1024;
    // A broker-backed queue: "" keeps the in-process one; redis://host:port/db puts it in Redis, where
    // worker daemons (`ksid --worker`) run the turns; "dramatiq" takes dramatiq.broker.
    std::string broker;
    std::string broker_prefix = "ksid"; // every Redis key starts with "<prefix>:"
    Seconds visibility_timeout{30};     // a claimed job its worker stopped refreshing is taken back then
    unsigned max_deliveries = 3;        // deliveries of a job that never started, before the dead-letter stream
    std::string worker_name;            // `ksid --worker`'s name ("": <hostname>-<pid>)
};

struct FacadeSettings {
    bool enabled = false;
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;
    std::vector<std::string> api_keys; // secrets: never printed
    std::string api_keys_file;
    std::vector<std::string> admin_keys; // may use /admin and /dashboard (secrets: never printed)
    bool enable_tools = false;
    std::size_t max_body_bytes = 4 * 1024 * 1024;
    std::size_t max_connections = 1024;
    Seconds header_timeout{30};
    Seconds body_timeout{60};
    Seconds idle_timeout{120};
    Seconds write_timeout{30}; // a response or stream that makes no progress this long drops the connection
    Seconds keepalive_interval{15};
    unsigned max_images = 20;                            // images per request
    std::size_t max_image_bytes = 5 * 1024 * 1024;       // one image, decoded
    std::size_t max_images_total_bytes = 20 * 1024 * 1024; // all of a request's images, decoded
};

// Warm claude processes (daemon/backends/warm): pre-started and session-affine `--input-format stream-json`
// processes, bounded by count and memory. enabled: false runs every turn on a cold `claude` as before.
struct PoolSettings {
    bool enabled = false;
    unsigned max_processes = 4;                       // warm processes at most (busy ones included)
    std::size_t memory_budget = std::size_t(3) << 30; // resident memory of all of them together
    unsigned spares = 1;                              // idle unsessioned processes kept per recent key
    bool prestart = true;                             // start a spare for SPAWN's default key at start-up
    Seconds idle_ttl{600};                            // an idle session process is stopped after this
    unsigned max_turns = 200;                         // a process is recycled after this many turns
    Seconds max_age{4 * 3600};                        // ... or this age
    std::size_t max_process_rss = std::size_t(1536) << 20; // ... or this resident memory
    Seconds output_idle_limit{120}; // a turn with no output this long: the process is hung
    Seconds interrupt_drain{3};     // after an interrupt, wait this long for the result
    Seconds tool_result_wait{600};  // a turn awaiting a client's tool results keeps its process this long
};

// Tenants and the usage ledger (daemon/services/usage_governor): API keys with limits in a SQLite
// database, the socket clients' own limits, and how long usage records are kept.
struct UsageSettings {
    bool enabled = true;
    std::string database = "usage/ksid.sqlite3";
    unsigned retention_days = 400;
    std::string local_limits; // "concurrent=2 rpm=30": the socket clients' limits (`ksid keys` names)
};

struct Config {
    ApiShimSettings api_shim;
    DramatiqSettings dramatiq;
    ModelSettings models;
    DaemonSettings daemon;
    QueueSettings queue;
    FacadeSettings facade;
    PoolSettings pool;
    UsageSettings usage;
    std::string source; // where the configuration came from, for logs and --print-config
};

} // namespace ksid::config
