// The message bus's offline queues: bounded by count and bytes per agent and by bytes for all agents,
// oldest dropped first, each drop burst logged once.
#include "daemon/services/message_bus.hpp"
#include "tests/unit/temp_directory.hpp"

#include <doctest/doctest.h>

#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

using namespace ksid::daemon;
using ksid::test::TempDirectory;
namespace json = boost::json;

namespace {

struct Recorder final : BusEndpoint {
    std::vector<std::string> lines;
    bool deliver(std::shared_ptr<const std::string> line) override {
        lines.push_back(*line);
        return true;
    }
};

struct Fixture {
    TempDirectory dir{"ksid-bus"};
    std::ostringstream log_text;
    MessageBus bus;
    explicit Fixture(BusLimits limits)
        : bus(dir / "message_bus.jsonl", limits,
              std::make_shared<spdlog::logger>("t",
                                               std::make_shared<spdlog::sinks::ostream_sink_st>(log_text))) {}

    void send(const std::string& to, int n, std::size_t pad) {
        bus.publish("B", "DIRECT_MESSAGE", {{"to", to}, {"n", n}, {"pad", std::string(pad, 'x')}});
    }
    json::object queues() { return bus.stats().at("offline_queues").as_object(); }
    std::size_t logged(const std::string& text) {
        const std::string s = log_text.str();
        std::size_t n = 0;
        for (auto at = s.find(text); at != std::string::npos; at = s.find(text, at + 1))
            ++n;
        return n;
    }
};

} // namespace

TEST_CASE("an offline queue keeps its newest messages within its bytes, logged once per burst") {
    Fixture f(BusLimits{.offline_bytes_per_agent = 10'000});
    for (int n = 0; n < 50; ++n)
        f.send("OFF", n, 3000); // ~3.1 KB each: three fit
    CHECK(f.queues().at("OFF").to_number<std::int64_t>() == 3);
    CHECK(f.logged("Offline queue of OFF is full") == 1);
    auto endpoint = std::make_shared<Recorder>();
    f.bus.connect("OFF", endpoint);
    f.bus.flush_offline("OFF");
    REQUIRE(endpoint->lines.size() == 3);
    CHECK(endpoint->lines.front().find("\"n\": 47") != std::string::npos); // the newest three, in order
    CHECK(endpoint->lines.back().find("\"n\": 49") != std::string::npos);
    CHECK(f.logged("47 oldest messages were dropped while it was offline") == 1);
    CHECK(f.queues().empty());
}

TEST_CASE("all offline queues together stay within their bytes: the earliest queue gives way first") {
    Fixture f(BusLimits{.offline_bytes_per_agent = 100'000, .offline_total_bytes = 20'000});
    for (int agent = 0; agent < 4; ++agent)
        for (int n = 0; n < 3; ++n)
            f.send("A" + std::to_string(agent), n, 3000); // 12 messages, ~37 KB: only ~6 fit
    const auto q = f.queues();
    std::int64_t total = 0;
    for (const auto& kv : q)
        total += kv.value().to_number<std::int64_t>();
    CHECK(total == 6);
    CHECK_FALSE(q.contains("A0"));
    CHECK_FALSE(q.contains("A1"));
    CHECK(q.at("A3").to_number<std::int64_t>() == 3);
    CHECK(f.logged("daemon.max_offline_total_bytes") == 1);
}

TEST_CASE("a message larger than a queue is not queued, and that is logged once") {
    Fixture f(BusLimits{.offline_bytes_per_agent = 1024});
    for (int n = 0; n < 5; ++n)
        f.send("OFF" + std::to_string(n), n, 2000);
    CHECK(f.queues().empty());
    CHECK(f.logged("not queued") == 1);
}
