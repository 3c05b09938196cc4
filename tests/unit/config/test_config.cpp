#include "config/config_loader.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>

using namespace ksid::config;

namespace {
EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}
const EnvLookup no_env = env_of({});
} // namespace

TEST_CASE("the shipped config/api_shim.yaml loads and equals the built-in defaults") {
    std::ifstream in(std::string(KSID_SOURCE_DIR) + "/config/api_shim.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    auto shipped = load_config_text(ss.str(), "config/api_shim.yaml", no_env);
    REQUIRE_MESSAGE(shipped.has_value(), (shipped ? "" : shipped.error().message));
    auto defaults = load_config_text("", "defaults", no_env);
    REQUIRE(defaults.has_value());
    Config a = *shipped, b = *defaults;
    a.source = b.source = "";
    a.dramatiq.configured = b.dramatiq.configured = false;
    CHECK(render_config_yaml(a) == render_config_yaml(b));
    CHECK(shipped->dramatiq.configured);
}

TEST_CASE("defaults are safe") {
    auto c = load_config_text("", "x", no_env);
    REQUIRE(c.has_value());
    CHECK_FALSE(c->api_shim.enabled);
    CHECK_FALSE(c->facade.enabled);
    CHECK(c->facade.host == "127.0.0.1");
    CHECK(c->facade.port == 8000);
    CHECK_FALSE(c->facade.enable_tools);
    CHECK(c->daemon.socket_mode == 0600);
    CHECK(c->daemon.max_line_bytes == 65536);
    CHECK(c->queue.run_time_limit.count() == 300);
    CHECK(c->api_shim.timeout >= c->queue.run_time_limit);
}

TEST_CASE("values are read from YAML") {
    auto c = load_config_text("api_shim:\n  enabled: true\n  base_url: https://up.example/v1\n"
                              "queue:\n  max_concurrent: 8\n  max_output_bytes: 2MiB\n"
                              "models:\n  available: [sonnet, claude-opus-4]\n  default: claude-opus-4\n"
                              "daemon:\n  socket_mode: \"0660\"\n  first_line_timeout: 2.5\n",
                              "x", no_env);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    CHECK(c->api_shim.enabled);
    CHECK(c->api_shim.base_url == "https://up.example/v1");
    CHECK(c->queue.max_concurrent == 8);
    CHECK(c->queue.max_output_bytes == 2 * 1024 * 1024);
    CHECK(c->models.available.size() == 2);
    CHECK(c->models.default_model == "claude-opus-4");
    CHECK(c->daemon.socket_mode == 0660);
    CHECK(c->daemon.first_line_timeout.count() == doctest::Approx(2.5));
}

TEST_CASE("write timeouts: 30 s by default, from YAML or the environment") {
    auto c = load_config_text("", "x", no_env);
    REQUIRE(c.has_value());
    CHECK(c->daemon.write_timeout.count() == doctest::Approx(30));
    CHECK(c->facade.write_timeout.count() == doctest::Approx(30));
    c = load_config_text("daemon:\n  write_timeout: 2\nfacade:\n  write_timeout: 0.5\n", "x", no_env);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    CHECK(c->daemon.write_timeout.count() == doctest::Approx(2));
    CHECK(c->facade.write_timeout.count() == doctest::Approx(0.5));
    c = load_config_text("", "x", env_of({{"KSID_WRITE_TIMEOUT", "7"}, {"KSID_FACADE_WRITE_TIMEOUT", "9"}}));
    REQUIRE(c.has_value());
    CHECK(c->daemon.write_timeout.count() == doctest::Approx(7));
    CHECK(c->facade.write_timeout.count() == doctest::Approx(9));
    CHECK_FALSE(load_config_text("facade:\n  write_timeout: 0\n", "x", no_env).has_value());
}

TEST_CASE("api_shim.model_map from YAML and the environment") {
    auto c = load_config_text("api_shim:\n  model_map: {sonnet: gpt-4o, opus: \"o1\"}\n", "x", no_env);
    REQUIRE(c.has_value());
    CHECK(c->api_shim.model_map.size() == 2);
    CHECK(c->api_shim.model_map.at("sonnet") == "gpt-4o");
    c = load_config_text("", "x",
                         env_of({{"KSID_API_SHIM_MODEL_MAP", "haiku=gpt-4o-mini, sonnet = gpt-4o"}}));
    REQUIRE(c.has_value());
    CHECK(c->api_shim.model_map.at("haiku") == "gpt-4o-mini");
    CHECK(c->api_shim.model_map.at("sonnet") == "gpt-4o");
    CHECK(render_config_yaml(*c).find("model_map: {\"haiku\": \"gpt-4o-mini\"") != std::string::npos);
}

TEST_CASE("the environment overrides YAML in both directions") {
    auto c =
        load_config_text("api_shim:\n  enabled: true\n", "x", env_of({{"USE_CLAUDE_API_SHIM", "false"}}));
    REQUIRE(c.has_value());
    CHECK_FALSE(c->api_shim.enabled);
    c = load_config_text("api_shim:\n  enabled: false\n", "x", env_of({{"USE_CLAUDE_API_SHIM", "true"}}));
    REQUIRE(c.has_value());
    CHECK(c->api_shim.enabled);
    c = load_config_text("", "x",
                         env_of({{"CLAUDE_API_BASE", "http://127.0.0.1:9000/v1"},
                                 {"KSID_MAX_CONCURRENT", "2"},
                                 {"KSID_API_KEYS", "k1, k2"},
                                 {"KSID_SOCKET", "/tmp/x.sock"}}));
    REQUIRE(c.has_value());
    CHECK(c->api_shim.base_url == "http://127.0.0.1:9000/v1");
    CHECK(c->queue.max_concurrent == 2);
    CHECK(c->facade.api_keys == std::vector<std::string>{"k1", "k2"});
    CHECK(c->daemon.socket_path == "/tmp/x.sock");
}

TEST_CASE("errors name the key and the line") {
    auto c = load_config_text("queue:\n  max_concurrent: lots\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("cfg.yaml:2") != std::string::npos);
    CHECK(c.error().message.find("queue.max_concurrent") != std::string::npos);

    c = load_config_text("queue:\n  max_concurent: 3\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("unknown key 'queue.max_concurent'") != std::string::npos);

    c = load_config_text("queu:\n  max_concurrent: 3\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("unknown section 'queu'") != std::string::npos);

    c = load_config_text("api_shim: [1, 2\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("invalid YAML") != std::string::npos);

    c = load_config_text("api_shim:\n  base_url: ftp://x\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("api_shim.base_url") != std::string::npos);

    c = load_config_text("api_shim:\n  base_url: http://h/v1?x=1\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("query") != std::string::npos);
    c = load_config_text("api_shim:\n  model_map: [a]\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("api_shim.model_map") != std::string::npos);
    c = load_config_text("api_shim:\n  model_map: {\"--x\": y}\n", "cfg.yaml", no_env);
    CHECK_FALSE(c.has_value());

    c = load_config_text("daemon:\n  socket_mode: \"0999\"\n", "cfg.yaml", no_env);
    CHECK_FALSE(c.has_value());
    c = load_config_text("queue:\n  max_concurrent: 0\n", "cfg.yaml", no_env);
    CHECK_FALSE(c.has_value());
    c = load_config_text("models:\n  available: [\"--dangerous\"]\n", "cfg.yaml", no_env);
    CHECK_FALSE(c.has_value());
    c = load_config_text("queue:\n  max_concurrent: {a: 1}\n", "cfg.yaml", no_env);
    CHECK_FALSE(c.has_value());
    c = load_config_text("- just\n- a list\n", "cfg.yaml", no_env);
    CHECK_FALSE(c.has_value());
}

TEST_CASE("a bad environment value is an error naming the variable") {
    auto c = load_config_text("", "x", env_of({{"USE_CLAUDE_API_SHIM", "maybe"}}));
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("USE_CLAUDE_API_SHIM") != std::string::npos);
    c = load_config_text("", "x", env_of({{"KSID_MAX_PENDING", "-1"}}));
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("KSID_MAX_PENDING") != std::string::npos);
}

TEST_CASE("a missing --config file is an error") {
    LoadRequest r;
    r.file = "/nonexistent/ksid.yaml";
    r.env = no_env;
    auto c = load_config(r);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("/nonexistent/ksid.yaml") != std::string::npos);
}

TEST_CASE("--print-config redacts secrets") {
    auto c =
        load_config_text("facade:\n  api_keys: [sekret-1]\napi_shim:\n  api_key: sekret-2\n", "x", no_env);
    REQUIRE(c.has_value());
    const auto text = render_config_yaml(*c);
    CHECK(text.find("sekret") == std::string::npos);
    CHECK(text.find("<redacted>") != std::string::npos);
}

TEST_CASE("log levels normalise") {
    CHECK(normalize_log_level("WARN") == "warning");
    CHECK(normalize_log_level("debug") == "debug");
    CHECK_FALSE(normalize_log_level("loud"));
}

TEST_CASE("api_shim.provider and api_shim.max_tokens") {
    auto c = load_config_text("", "x", no_env);
    REQUIRE(c.has_value());
    CHECK(c->api_shim.provider == ksid::protocol::UpstreamProvider::openai);
    CHECK(c->api_shim.max_tokens == 8192);
    c = load_config_text("api_shim:\n  provider: anthropic\n  max_tokens: 1024\n", "x", no_env);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    CHECK(c->api_shim.provider == ksid::protocol::UpstreamProvider::anthropic);
    CHECK(c->api_shim.max_tokens == 1024);
    CHECK(render_config_yaml(*c).find("  provider: anthropic\n") != std::string::npos);
    c = load_config_text("api_shim:\n  provider: anthropic\n", "x",
                         env_of({{"KSID_API_SHIM_PROVIDER", "openai"}, {"KSID_API_SHIM_MAX_TOKENS", "77"}}));
    REQUIRE(c.has_value());
    CHECK(c->api_shim.provider == ksid::protocol::UpstreamProvider::openai);
    CHECK(c->api_shim.max_tokens == 77);

    c = load_config_text("api_shim:\n  enabled: true\n  provider: gemini\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("cfg.yaml:3") != std::string::npos);
    CHECK(c.error().message.find("api_shim.provider") != std::string::npos);
    CHECK(c.error().message.find("expected openai or anthropic, got 'gemini'") != std::string::npos);
    c = load_config_text("api_shim:\n  max_tokens: 0\n", "cfg.yaml", no_env);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("api_shim.max_tokens") != std::string::npos);
    c = load_config_text("", "x", env_of({{"KSID_API_SHIM_PROVIDER", "OpenAI!"}}));
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("KSID_API_SHIM_PROVIDER") != std::string::npos);
}
