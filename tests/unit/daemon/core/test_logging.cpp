// The daemon's log line format, and that no message can end a line or carry a terminal escape.
#include "daemon/core/logging.hpp"
#include "tests/unit/temp_directory.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace ksid::daemon;
using ksid::test::TempDirectory;

TEST_CASE("daemon.log: a message with control characters stays one line, escaped") {
    TempDirectory dir("ksid-log");
    const std::string path = dir / "daemon.log";
    {
        auto log = make_daemon_logger(path, "info");
        log->info("RELOAD {}: x", "m\n2026-01-01 00:00:00,000 - daemon - CRITICAL - forged\r\x1b[31m\x9b");
        log->info("plain caf\xc3\xa9");
    }
    const std::string s = dir.read("daemon.log");
    CHECK(s.find('\x1b') == std::string::npos);
    CHECK(s.find('\r') == std::string::npos);
    CHECK(s.find('\x9b') == std::string::npos);
    CHECK(std::count(s.begin(), s.end(), '\n') == 2);
    CHECK(s.find(" - daemon - INFO - RELOAD m\\n2026-01-01 00:00:00,000 - daemon - CRITICAL - "
                 "forged\\r\\x1b[31m\\x9b: x\n") != std::string::npos);
    CHECK(s.find(" - daemon - INFO - plain caf\xc3\xa9\n") != std::string::npos);
}
