#include "daemon/services/shared_state_store.hpp"
#include "tests/unit/temp_directory.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>

#include <limits>

using namespace ksid::daemon;
using ksid::test::TempDirectory;
namespace json = boost::json;

namespace {
struct Fixture {
    TempDirectory dir{"ksid-shared-state"};
    SharedStateStore store{dir.path.string(), std::make_shared<spdlog::logger>(
                                                  "test", std::make_shared<spdlog::sinks::null_sink_st>())};
};
} // namespace

TEST_CASE("the key 'identities' is reserved for ksid's identities.json") {
    CHECK_FALSE(SharedStateStore::file_name_for(json::value("identities")).has_value());
    CHECK(*SharedStateStore::file_name_for(json::value("identities2")) == "identities2.json");
    CHECK(SharedStateStore::file_name_for(json::value("Identities")).has_value());
}

TEST_CASE("a file that cannot be used is kept aside when read, and when about to be overwritten") {
    Fixture f;
    f.dir.write("read.json", "{not json");
    CHECK(f.store.get("read.json").is_null());
    CHECK(f.dir.names_starting_with("read.json.corrupt-").size() == 1);
    CHECK_FALSE(std::filesystem::exists(f.dir.path / "read.json"));

    f.dir.write("written.json", R"({"no value here": 1})");
    REQUIRE_FALSE(f.store.set("written.json", json::value(7)));
    const auto kept = f.dir.names_starting_with("written.json.corrupt-");
    REQUIRE(kept.size() == 1);
    CHECK(f.dir.read(kept[0]) == R"({"no value here": 1})");
    CHECK(json::parse(f.dir.read("written.json")).at("value") == 7);
    CHECK(f.store.get("written.json") == 7);
}

TEST_CASE("a file that cannot be read is not overwritten: the set is refused and changes nothing") {
    Fixture f;
    std::filesystem::create_directory(f.dir.path / "k.json"); // read(2) fails: EISDIR
    CHECK(f.store.set("k.json", json::value("v")) == std::errc::is_a_directory);
    CHECK(f.store.get("k.json").is_null());
    CHECK(std::filesystem::is_directory(f.dir.path / "k.json"));
}

TEST_CASE("a value that would not read back is refused; good values are written") {
    Fixture f;
    CHECK(f.store.set("inf.json", json::value(std::numeric_limits<double>::infinity())) ==
          std::errc::invalid_argument);
    CHECK(f.store.get("inf.json").is_null());
    CHECK_FALSE(std::filesystem::exists(f.dir.path / "inf.json"));
    REQUIRE_FALSE(f.store.set("ok.json", json::value(18446744073709551615u)));
    SharedStateStore reader(f.dir.path.string(), std::make_shared<spdlog::logger>(
                                                     "t", std::make_shared<spdlog::sinks::null_sink_st>()));
    CHECK(reader.get("ok.json").as_uint64() == 18446744073709551615u);
}
