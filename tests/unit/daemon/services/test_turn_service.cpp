#include "daemon/services/turn_service.hpp"
#include "daemon/turns/in_process_job_queue.hpp"
#include "tests/unit/daemon/scripted_backend.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ksid::daemon;
using ksid::test::answered;
using ksid::test::run_coroutine;
using ksid::test::ScriptedBackend;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// A TurnService over a scripted backend, writing its files into a fresh temporary directory.
struct Fixture {
    Fixture()
        : dir(fs::temp_directory_path() /
              ("ksid-turn-service-" + std::to_string(::getpid()) + "-" + std::to_string(counter++))) {
        fs::create_directories(dir / "claude_logs");
        fs::create_directories(dir / "sockets");
        config.queue.max_concurrent = 1;
        config.queue.max_pending = 1;
    }
    ~Fixture() { fs::remove_all(dir); }

    std::vector<std::string> log_lines(const std::string& session) const {
        std::ifstream in(dir / "claude_logs" / (session + ".jsonl"));
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);)
            lines.push_back(line);
        return lines;
    }

    static inline int counter = 0;
    fs::path dir;
    asio::io_context io;
    ksid::config::Config config;
    ScriptedBackend backend{io.get_executor()};
    std::shared_ptr<spdlog::logger> log =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_st>());
    InProcessJobQueue queue{io.get_executor(), backend, 1, 1, log};
    SessionLog session_log{(dir / "claude_logs").string(), (dir / "sockets").string()};
    SessionRegistry sessions;
    AgentRegistry agents;
    TurnService turns{config, queue, session_log, sessions, agents, log};
};

TurnRequest events_turn(std::optional<std::string> resume = std::nullopt) {
    TurnRequest t;
    t.prompt = "hi";
    t.model = "sonnet";
    t.output = TurnOutput::events;
    t.resume_session = std::move(resume);
    return t;
}

} // namespace

TEST_CASE("TurnService: a finished turn is recorded, counted and keeps its answer") {
    Fixture f;
    f.agents.agents["agent-1"] = json::object{{"name", "a"}};
    f.backend.script.push_back({{}, answered("Hello", "sess-1"), false});
    run_coroutine(f.io, [&]() -> asio::awaitable<void> {
        auto job = f.turns.submit(events_turn()).value();
        CHECK(job->request().time_limit == std::chrono::milliseconds(300'000)); // queue.run_time_limit
        auto o =
            co_await f.turns.finish(job, TurnLogging{TurnLogging::Mode::exchange, json::value("agent-1")});
        REQUIRE(o.ok());
        CHECK(o.answer->text == "Hello");
        CHECK(o.answer->session_id == "sess-1");
    }());
    const auto lines = f.log_lines("sess-1");
    REQUIRE(lines.size() == 2);
    auto human = json::parse(lines[0]).as_object();
    auto claude = json::parse(lines[1]).as_object();
    CHECK(human.at("type") == "human");
    CHECK(human.at("content") == "hi");
    CHECK(human.at("agent_id") == "agent-1");
    CHECK(claude.at("type") == "claude");
    CHECK(claude.at("result") == "Hello");
    CHECK(claude.at("process_id") == human.at("process_id"));
    CHECK(f.sessions.size() == 1);
    CHECK(f.agents.agents.at("agent-1").as_object().at("sessions").as_array().size() == 1);
    const auto& stats = f.turns.stats();
    CHECK(stats.ended.at("completed") == 1);
    CHECK(stats.prompt_tokens == 5); // input 3 + cache read 2
    CHECK(stats.completion_tokens == 5);
    CHECK(stats.cost_usd == doctest::Approx(0.25));
}

TEST_CASE("TurnService: claude's own error, the resumed session, no log for Mode::none") {
    Fixture f;
    f.backend.script.push_back({{}, answered("Invalid API key", "sess-e", true), false});
    f.backend.script.push_back({{}, answered("resumed", std::nullopt), false});
    run_coroutine(f.io, [&]() -> asio::awaitable<void> {
        auto o = co_await f.turns.finish(f.turns.submit(events_turn()).value(), TurnLogging{});
        CHECK(is(o.error, errc::claude_error));
        CHECK(o.detail == "Invalid API key");
        auto r = co_await f.turns.finish(f.turns.submit(events_turn("sess-r")).value(),
                                         TurnLogging{TurnLogging::Mode::none, nullptr});
        REQUIRE(r.ok());
        CHECK(r.answer->session_id == "sess-r"); // the session it continued
    }());
    CHECK(f.log_lines("sess-e").empty());
    CHECK(f.log_lines("sess-r").empty());
    CHECK(f.turns.stats().ended.at("claude_error") == 1);
}

TEST_CASE("TurnService: refusals: a full queue, and shutdown") {
    Fixture f;
    f.backend.script.push_back({{}, answered("a", "s"), true});
    run_coroutine(f.io, [&]() -> asio::awaitable<void> {
        auto running = f.turns.submit(events_turn()).value();
        auto waiting = f.turns.submit(events_turn()).value();
        auto full = f.turns.submit(events_turn());
        CHECK(is(full.error(), errc::queue_full));
        co_await f.turns.shutdown(std::chrono::milliseconds(10),
                                  std::chrono::steady_clock::now() + std::chrono::seconds(1));
        CHECK(f.turns.stopping());
        CHECK(is((co_await f.turns.finish(running, {})).error, errc::shutting_down));
        CHECK(is((co_await f.turns.finish(waiting, {})).error, errc::shutting_down));
        CHECK(is(f.turns.submit(events_turn()).error(), errc::shutting_down));
    }());
    CHECK(f.turns.stats().ended.at("rejected") == 1);
}

TEST_CASE("TurnService: models") {
    Fixture f;
    f.config.models.available = {"sonnet", "opus"};
    CHECK_FALSE(f.turns.model_problem("sonnet"));
    CHECK_FALSE(f.turns.model_problem("claude-3-5-haiku-20241022"));
    CHECK(f.turns.model_problem("gpt-4o")->find("unknown model 'gpt-4o'") == 0);
    CHECK(f.turns.model_problem("--print")->find("invalid model name") == 0);
    f.config.api_shim.enabled = true;
    f.config.api_shim.model_map["gpt-4o"] = "gpt-4o";
    CHECK_FALSE(f.turns.model_problem("gpt-4o"));
}

TEST_CASE("TurnService: a sync SPAWN's files in the legacy order") {
    Fixture f;
    const json::object reply{{"type", "result"}, {"result", "x"}, {"session_id", "sess-s"}};
    CHECK_FALSE(f.turns.record_sync_spawn("p", reply, std::string("sess-s")));
    CHECK(f.log_lines("sess-s").size() == 2);
    CHECK(fs::read_symlink(f.dir / "claude_logs" / "latest.jsonl") == "sess-s.jsonl");
    std::ifstream id(f.dir / "sockets" / "last_session_id");
    std::stringstream text;
    text << id.rdbuf();
    CHECK(text.str() == "sess-s");
    CHECK(fs::exists(f.dir / "sockets" / "claude_last_output.json"));
    fs::remove_all(f.dir / "claude_logs");
    auto failure = f.turns.record_sync_spawn("p", reply, std::string("sess-s"));
    REQUIRE(failure);
    CHECK(failure->path.ends_with("sess-s.jsonl"));
}
