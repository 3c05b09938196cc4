#include "daemon/services/state_file.hpp"
#include "tests/unit/temp_directory.hpp"

#include <doctest/doctest.h>

using namespace ksid::daemon;
using ksid::test::TempDirectory;
using Kind = StateFileLoad::Kind;

namespace {
const char* must_be_object(const boost::json::value& v) {
    return v.is_object() ? nullptr : "it is not a JSON object";
}
} // namespace

TEST_CASE("a state file loads, or is missing") {
    TempDirectory dir("ksid-state");
    CHECK(load_state_file(dir / "s.json", 100, must_be_object).kind == Kind::missing);
    dir.write("s.json", R"({"a": 18446744073709551615})");
    auto loaded = load_state_file(dir / "s.json", 100, must_be_object);
    REQUIRE(loaded.kind == Kind::loaded);
    CHECK(loaded.value.at("a").as_uint64() == 18446744073709551615u);
}

TEST_CASE("a state file that cannot be used is kept aside, with the reason") {
    struct Case {
        const char* content;
        std::size_t max_bytes;
        const char* reason;
    };
    for (const Case& c : {Case{"{torn", 100, "it is not valid JSON (Expecting"},
                          Case{R"({"n": 1e309})", 100, "it is not valid JSON (Number out of range: 1e309"},
                          Case{"[1, 2]", 100, "it is not a JSON object"},
                          Case{R"({"a": "0123456789"})", 10, "it is larger than 10 bytes"}}) {
        INFO(c.content);
        TempDirectory dir("ksid-state");
        dir.write("s.json", c.content);
        auto loaded = load_state_file(dir / "s.json", c.max_bytes, must_be_object);
        CHECK(loaded.kind == Kind::kept_aside);
        CHECK(loaded.detail.starts_with(c.reason));
        CHECK(loaded.detail.find("; kept as " + (dir / "s.json.corrupt-")) != std::string::npos);
        const auto kept = dir.names_starting_with("s.json");
        REQUIRE(kept.size() == 1);
        CHECK(kept[0].starts_with("s.json.corrupt-"));
        CHECK(dir.read(kept[0]) == c.content);
    }
}

TEST_CASE("a state file that cannot be read is left alone and reported as failed") {
    TempDirectory dir("ksid-state");
    std::filesystem::create_directory(dir.path / "s.json"); // read(2) fails: EISDIR
    auto loaded = load_state_file(dir / "s.json", 100, must_be_object);
    CHECK(loaded.kind == Kind::failed);
    CHECK(loaded.error == std::errc::is_a_directory);
    CHECK(std::filesystem::is_directory(dir.path / "s.json"));
}

TEST_CASE("content is checked before it is written: only what loads back as written") {
    CHECK_FALSE(check_state_content(R"({"value": 1.5e308})", 100));
    CHECK(check_state_content(R"({"value": Infinity})", 100) == std::errc::invalid_argument);
    CHECK(check_state_content(R"({"value": 1e999})", 100) == std::errc::invalid_argument);
    CHECK(check_state_content(std::string(1001, '[') + std::string(1001, ']'), 1 << 20) ==
          std::errc::invalid_argument);
    CHECK(check_state_content(R"({"value": "0123456789"})", 10) == std::errc::file_too_large);
}
