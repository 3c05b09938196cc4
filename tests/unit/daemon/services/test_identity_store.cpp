#include "daemon/services/identity_store.hpp"
#include "protocol/python_json.hpp"
#include "tests/unit/daemon/scripted_backend.hpp"
#include "tests/unit/temp_directory.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include <limits>

using namespace ksid::daemon;
using ksid::test::run_coroutine;
using ksid::test::TempDirectory;
namespace asio = boost::asio;
namespace json = boost::json;
using Kind = StateFileLoad::Kind;

namespace {

struct Fixture {
    TempDirectory dir{"ksid-identities"};
    asio::io_context io{1};
    BlockingWorker worker;
    IdentityStore store{io.get_executor(), worker, dir / "identities.json"};

    std::error_code put(std::string id, json::object identity) {
        std::error_code ec;
        run_coroutine(io,
                      [&]() -> asio::awaitable<void> { ec = co_await store.put(id, std::move(identity)); }());
        return ec;
    }
    std::error_code remove(std::string id) {
        std::error_code ec;
        run_coroutine(io, [&]() -> asio::awaitable<void> { ec = co_await store.remove(id); }());
        return ec;
    }
    // The file as the legacy daemon would write the store's content: json.dumps(indent=2).
    bool file_matches_store() {
        return dir.read("identities.json") == ksid::protocol::to_python_json(store.all(), 2);
    }
};

} // namespace

TEST_CASE("identities load as they are; entries that are not objects are kept and written back") {
    Fixture f;
    f.dir.write("identities.json", R"({"a": {"role": "x"}, "junk": "not an identity", "b": {"role": "y"}})");
    CHECK(f.store.load().kind == Kind::loaded);
    CHECK(f.store.find("a") != nullptr);
    CHECK(f.store.find("junk") == nullptr);
    REQUIRE_FALSE(f.put("c", json::object{{"role", "z"}}));
    auto saved = json::parse(f.dir.read("identities.json")).as_object();
    CHECK(saved.size() == 4);
    CHECK(saved.at("junk") == "not an identity");
    CHECK(f.file_matches_store());
}

TEST_CASE("the file assembled member by member is what json.dumps(indent=2) writes, after every change") {
    Fixture f;
    REQUIRE(f.store.load().kind == Kind::missing);
    REQUIRE_FALSE(
        f.put("a", json::object{{"n", 1}, {"nested", json::object{{"list", json::array{1, "é", nullptr}}}}}));
    CHECK(f.file_matches_store());
    REQUIRE_FALSE(f.put("b", json::object{}));
    REQUIRE_FALSE(f.put("a", json::object{{"n", 2}})); // replaced in place
    CHECK(f.store.all().begin()->key() == "a");
    CHECK(f.file_matches_store());
    REQUIRE_FALSE(f.remove("a"));
    CHECK(f.file_matches_store());
    REQUIRE_FALSE(f.remove("b"));
    CHECK(f.dir.read("identities.json") == "{}");
}

TEST_CASE("an unusable identities file is kept aside, never overwritten") {
    Fixture f;
    f.dir.write("identities.json", "{torn");
    auto loaded = f.store.load();
    CHECK(loaded.kind == Kind::kept_aside);
    CHECK(f.store.all().empty());
    REQUIRE_FALSE(f.put("fresh", json::object{}));
    const auto kept = f.dir.names_starting_with("identities.json.corrupt-");
    REQUIRE(kept.size() == 1);
    CHECK(f.dir.read(kept[0]) == "{torn");
}

TEST_CASE("a change that cannot be written is undone") {
    Fixture f;
    f.store.load();
    REQUIRE_FALSE(f.put("a", json::object{{"n", 1}}));
    REQUIRE_FALSE(f.put("b", json::object{{"n", 2}}));
    const auto before = f.dir.read("identities.json");
    std::filesystem::remove_all(f.dir.path); // every write now fails

    CHECK(f.put("a", json::object{{"n", 3}})); // replace
    CHECK(f.store.find("a")->at("n") == 1);
    CHECK(f.put("c", json::object{})); // insert
    CHECK(f.store.find("c") == nullptr);
    CHECK(f.remove("a"));
    REQUIRE(f.store.all().size() == 2);
    CHECK(f.store.all().begin()->key() == "a"); // the order too

    std::filesystem::create_directories(f.dir.path);
    REQUIRE_FALSE(f.put("b", json::object{{"n", 2}}));
    CHECK(f.dir.read("identities.json") == before);
}

TEST_CASE("an identity that would not read back is refused") {
    Fixture f;
    f.store.load();
    CHECK(f.put("a", json::object{{"n", std::numeric_limits<double>::infinity()}}) ==
          std::errc::invalid_argument);
    CHECK(f.store.all().empty());
    CHECK_FALSE(std::filesystem::exists(f.dir.path / "identities.json"));
}

TEST_CASE("a burst of changes shares a few writes, and every caller resumes once its change is on disk") {
    Fixture f;
    f.store.load();
    constexpr int count = 200;
    int answered = 0;
    int on_disk = 0; // doctest's macros do not compile inside coroutines (GCC 12): counted, checked after
    run_coroutine(f.io, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < count; ++i)
            asio::co_spawn(
                f.io,
                [&f, &answered, &on_disk, i]() -> asio::awaitable<void> {
                    const std::string id = "agent-" + std::to_string(i);
                    json::object identity{{"i", i}}; // built before the co_await (GCC 12)
                    const auto ec = co_await f.store.put(id, std::move(identity));
                    if (!ec) ++answered;
                    // On disk when it resumes: the file holds this change (and maybe later ones).
                    auto saved = json::parse(f.dir.read("identities.json")).as_object();
                    if (saved.contains(id)) ++on_disk;
                },
                asio::detached);
        co_return;
    }());
    CHECK(answered == count);
    CHECK(on_disk == count);
    CHECK(f.store.writes() <= 3); // the first change's write, then one for all that came while it ran
    CHECK(f.file_matches_store());
    CHECK(f.store.all().size() == count);
}

TEST_CASE("changes made while a failing write runs are undone with it") {
    Fixture f;
    f.store.load();
    REQUIRE_FALSE(f.put("kept", json::object{}));
    std::filesystem::remove_all(f.dir.path);
    int failed = 0;
    run_coroutine(f.io, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 20; ++i)
            asio::co_spawn(
                f.io,
                [&f, &failed, i]() -> asio::awaitable<void> {
                    const std::string id = "lost-" + std::to_string(i);
                    json::object identity;
                    if (co_await f.store.put(id, std::move(identity))) ++failed;
                },
                asio::detached);
        co_return;
    }());
    CHECK(failed == 20);
    REQUIRE(f.store.all().size() == 1);
    CHECK(f.store.contains("kept"));
}
