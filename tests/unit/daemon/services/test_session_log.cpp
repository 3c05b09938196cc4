#include "daemon/services/session_log.hpp"
#include "tests/unit/temp_directory.hpp"

#include <doctest/doctest.h>

using namespace ksid::daemon;
using ksid::test::TempDirectory;

TEST_CASE("a session id that is not valid, reserved names included, names no file") {
    TempDirectory dir("ksid-session-log");
    SessionLog log(dir.path.string(), dir.path.string());
    const boost::json::object line{{"type", "human"}};
    for (const char* session : {"latest", "message_bus", "task_routing", "../escape", ""}) {
        INFO(session);
        CHECK(log.append_exchange(session, line, line) == std::errc::invalid_argument);
        CHECK(log.link_latest(session) == std::errc::invalid_argument);
        CHECK(log.write_last_session_id(session) == std::errc::invalid_argument);
    }
    CHECK(std::filesystem::is_empty(dir.path));
    REQUIRE_FALSE(log.append_exchange("sess-1", line, line));
    REQUIRE_FALSE(log.link_latest("sess-1"));
    CHECK(std::filesystem::read_symlink(dir.path / "latest.jsonl") == "sess-1.jsonl");
}
