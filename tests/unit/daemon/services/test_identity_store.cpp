#include "daemon/services/identity_store.hpp"
#include "tests/unit/temp_directory.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include <limits>

using namespace ksid::daemon;
using ksid::test::TempDirectory;
namespace json = boost::json;
using Kind = StateFileLoad::Kind;

TEST_CASE("identities load as they are; entries that are not objects are kept and written back") {
    TempDirectory dir("ksid-identities");
    dir.write("identities.json", R"({"a": {"role": "x"}, "junk": "not an identity", "b": {"role": "y"}})");
    IdentityStore store(dir / "identities.json");
    CHECK(store.load().kind == Kind::loaded);
    CHECK(store.find("a") != nullptr);
    CHECK(store.find("junk") == nullptr);
    REQUIRE_FALSE(store.put("c", json::object{{"role", "z"}}));
    auto saved = json::parse(dir.read("identities.json")).as_object();
    CHECK(saved.size() == 4);
    CHECK(saved.at("junk") == "not an identity");
}

TEST_CASE("an unusable identities file is kept aside, never overwritten") {
    TempDirectory dir("ksid-identities");
    dir.write("identities.json", "{torn");
    IdentityStore store(dir / "identities.json");
    auto loaded = store.load();
    CHECK(loaded.kind == Kind::kept_aside);
    CHECK(store.all().empty());
    REQUIRE_FALSE(store.put("fresh", json::object{}));
    const auto kept = dir.names_starting_with("identities.json.corrupt-");
    REQUIRE(kept.size() == 1);
    CHECK(dir.read(kept[0]) == "{torn");
}

TEST_CASE("a change that cannot be saved is not applied") {
    TempDirectory dir("ksid-identities");
    IdentityStore store(dir / "identities.json");
    REQUIRE_FALSE(store.put("a", json::object{{"n", 1}}));
    REQUIRE_FALSE(store.put("b", json::object{{"n", 2}}));
    const auto before = dir.read("identities.json");
    std::filesystem::remove_all(dir.path); // every save now fails

    CHECK(store.put("a", json::object{{"n", 3}})); // replace
    CHECK(store.find("a")->at("n") == 1);
    CHECK(store.put("c", json::object{})); // insert
    CHECK(store.find("c") == nullptr);
    std::error_code ec;
    CHECK(store.remove("a", ec));
    CHECK(ec);
    REQUIRE(store.all().size() == 2);
    CHECK(store.all().begin()->key() == "a"); // the order too

    std::filesystem::create_directories(dir.path);
    REQUIRE_FALSE(store.put("b", json::object{{"n", 2}}));
    CHECK(dir.read("identities.json") == before);
}

TEST_CASE("an identity that would not read back is refused") {
    TempDirectory dir("ksid-identities");
    IdentityStore store(dir / "identities.json");
    CHECK(store.put("a", json::object{{"n", std::numeric_limits<double>::infinity()}}) ==
          std::errc::invalid_argument);
    CHECK(store.all().empty());
    CHECK_FALSE(std::filesystem::exists(dir.path / "identities.json"));
}
