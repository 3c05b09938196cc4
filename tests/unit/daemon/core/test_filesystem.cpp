#include "daemon/core/filesystem.hpp"
#include "tests/unit/temp_directory.hpp"

#include <doctest/doctest.h>

#include <memory>

#include <sys/stat.h>

using namespace ksid::daemon;
using ksid::test::TempDirectory;

TEST_CASE("read_file_limited says why it did not read: missing, too large, or the I/O error") {
    TempDirectory dir("ksid-fs");
    std::string out = "stale";
    CHECK(read_file_limited(dir / "missing", 10, out) == std::errc::no_such_file_or_directory);
    CHECK(out.empty());
    dir.write("f", "0123456789");
    CHECK_FALSE(read_file_limited(dir / "f", 10, out));
    CHECK(out == "0123456789");
    CHECK(read_file_limited(dir / "f", 9, out) == std::errc::file_too_large);
    CHECK(out.empty());
    CHECK(read_file_limited(dir.path.string(), 10, out) == std::errc::is_a_directory);
    CHECK_FALSE(read_small_file(dir / "f", 9).has_value());
    CHECK(read_small_file(dir / "f", 10) == "0123456789");
}

TEST_CASE("a FIFO is neither read nor appended to, and opening it never blocks") {
    TempDirectory dir("ksid-fs");
    const std::string fifo = dir / "pipe";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::string out;
    CHECK(read_file_limited(fifo, 10, out) == std::errc::invalid_argument); // no writer: would have blocked
    CHECK(append_line(fifo, "x\n")); // an error (ENXIO: no reader), never a wait
    AppendLog log(fifo);
    CHECK(log.append("x\n"));
    CHECK_FALSE(append_line(dir / "regular", "x\n"));
}

TEST_CASE("keep_aside renames to .corrupt-<UTC time> and never replaces an earlier one") {
    TempDirectory dir("ksid-fs");
    dir.write("state.json", "first");
    std::string first, second;
    REQUIRE_FALSE(keep_aside(dir / "state.json", first));
    CHECK(first.starts_with(dir / "state.json.corrupt-"));
    CHECK(first.ends_with("Z"));
    CHECK(dir.names_starting_with("state.json") ==
          std::vector<std::string>{first.substr(first.rfind('/') + 1)});
    dir.write("state.json", "second");
    REQUIRE_FALSE(keep_aside(dir / "state.json", second));
    CHECK(second != first);
    CHECK(dir.names_starting_with("state.json").size() == 2);
    CHECK(dir.read(first.substr(first.rfind('/') + 1)) == "first");
    CHECK(dir.read(second.substr(second.rfind('/') + 1)) == "second");
    std::string none;
    CHECK(keep_aside(dir / "state.json", none) == std::errc::no_such_file_or_directory);
}

TEST_CASE("a directory lock is exclusive, never blocks, and is released with its holder") {
    TempDirectory dir("ksid-fs");
    std::error_code ec;
    auto first = std::make_unique<DirectoryLock>();
    CHECK(first->try_acquire(dir.path.string(), ec) == DirectoryLock::Outcome::acquired);
    CHECK(first->held());
    DirectoryLock second; // another open file description: flock(2) treats it like another process
    CHECK(second.try_acquire(dir.path.string(), ec) == DirectoryLock::Outcome::held_elsewhere);
    CHECK_FALSE(second.held());
    first.reset();
    CHECK(second.try_acquire(dir.path.string(), ec) == DirectoryLock::Outcome::acquired);
    DirectoryLock missing;
    CHECK(missing.try_acquire(dir / "missing", ec) == DirectoryLock::Outcome::failed);
    CHECK(ec == std::errc::no_such_file_or_directory);
}
