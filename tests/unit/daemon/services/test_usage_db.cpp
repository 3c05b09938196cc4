#include "daemon/services/usage_db.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

using namespace ksid::daemon;

namespace {

struct TempDb {
    std::string dir =
        std::filesystem::temp_directory_path() / ("ksid-usage-db-" + std::to_string(::getpid()));
    std::string path = dir + "/ksid.sqlite3";
    TempDb() {
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    ~TempDb() { std::filesystem::remove_all(dir); }
};

UsageRecord record(double time, std::string key, std::string model, long long in, long long out, double usd,
                   std::string outcome = "completed", bool admitted = true) {
    UsageRecord r;
    r.time = time;
    r.key = std::move(key);
    r.model = std::move(model);
    r.transport = "openai";
    r.backend = "cli";
    r.input_tokens = in;
    r.output_tokens = out;
    r.cache_read_tokens = 100;
    r.cost_usd = usd;
    r.outcome = std::move(outcome);
    r.admitted = admitted;
    return r;
}

} // namespace

TEST_CASE("keys: added, listed, changed, revoked, each change a new keys version") {
    TempDb t;
    std::string error;
    auto db = UsageDb::open(t.path, error);
    REQUIRE(db);
    const auto v0 = db->keys_version();
    REQUIRE(v0);
    StoredKey k;
    k.name = "alice";
    const std::string secret = new_key_secret();
    CHECK(secret.size() == 45);
    CHECK(secret.starts_with("ksid-"));
    CHECK(new_key_secret() != secret);
    k.secret_sha256 = secret_digest(secret);
    CHECK(k.secret_sha256.size() == 64);
    CHECK(secret_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    k.hint = secret.substr(0, 9);
    k.limits.rpm = 10;
    k.created = 1000;
    REQUIRE_FALSE(db->add_key(k));
    CHECK(db->add_key(k)->find("exists") != std::string::npos);
    CHECK(*db->keys_version() == *v0 + 1);
    auto keys = db->keys(error);
    REQUIRE(keys);
    REQUIRE(keys->size() == 1);
    CHECK((*keys)[0].limits.rpm == 10);
    k.limits.rpm = 20;
    k.admin = true;
    REQUIRE_FALSE(db->update_key(k));
    keys = db->keys(error);
    CHECK((*keys)[0].limits.rpm == 20);
    CHECK((*keys)[0].admin);
    REQUIRE_FALSE(db->revoke_key("alice", 2000));
    CHECK(db->revoke_key("alice", 2001)); // only once
    CHECK(db->update_key(k));             // a revoked key cannot be changed
    keys = db->keys(error);
    CHECK((*keys)[0].revoked == 2000);
    // The name can be used again, with a new secret.
    k.secret_sha256 = secret_digest(new_key_secret());
    REQUIRE_FALSE(db->add_key(k));
    CHECK_FALSE(db->keys(error)->at(0).revoked);
    CHECK(*db->keys_version() == *v0 + 4);
}

TEST_CASE("the ledger sums by key, model and day over a range, refusals apart") {
    TempDb t;
    std::string error;
    auto db = UsageDb::open(t.path, error);
    REQUIRE(db);
    const double day1 = 1764633600; // 2025-12-02T00:00:00Z
    REQUIRE_FALSE(db->append(record(day1 + 10, "alice", "sonnet", 10, 5, 0.5)));
    REQUIRE_FALSE(db->append(record(day1 + 20, "alice", "haiku", 1, 1, 0.1)));
    REQUIRE_FALSE(db->append(record(day1 + 86400 + 5, "alice", "sonnet", 10, 5, 0.5, "timed_out")));
    REQUIRE_FALSE(db->append(record(day1 + 30, "bob", "sonnet", 7, 3, 0.2)));
    REQUIRE_FALSE(db->append(record(day1 + 40, "bob", "sonnet", 0, 0, 0, "rate_limited", false)));

    UsageQuery q;
    q.start = day1;
    q.end = day1 + 2 * 86400;
    auto rows = db->summary(q, error);
    REQUIRE(rows);
    REQUIRE(rows->size() == 2);
    CHECK((*rows)[0].key == "alice");
    CHECK((*rows)[0].requests == 3);
    CHECK((*rows)[0].errors == 1);
    CHECK((*rows)[0].counted_tokens == 32);
    CHECK((*rows)[0].cost_usd == doctest::Approx(1.1));
    CHECK((*rows)[1].key == "bob");
    CHECK((*rows)[1].requests == 1);
    CHECK((*rows)[1].refused == 1);

    q.by_model = true;
    q.by_day = true;
    q.key = "alice";
    rows = db->summary(q, error);
    REQUIRE(rows);
    REQUIRE(rows->size() == 3);
    CHECK((*rows)[0].day == "2025-12-02");
    CHECK((*rows)[0].model == "haiku");
    CHECK((*rows)[2].day == "2025-12-03");

    q = {};
    q.start = day1;
    q.end = day1 + 86400; // the first day only, everyone together
    q.by_key = false;
    rows = db->summary(q, error);
    REQUIRE(rows->size() == 1);
    CHECK((*rows)[0].requests == 3);

    auto recent = db->recent(2, error);
    REQUIRE(recent->size() == 2);
    CHECK((*recent)[0].outcome == "rate_limited");
    CHECK_FALSE((*recent)[0].admitted);

    CHECK(*db->prune(day1 + 86400, error) == 4);
    q.end = day1 + 3 * 86400;
    q.by_key = true;
    CHECK(db->summary(q, error)->size() == 1);
}

TEST_CASE("a second connection sees what the first committed (the daemon and ksid keys)") {
    TempDb t;
    std::string error;
    auto a = UsageDb::open(t.path, error);
    auto b = UsageDb::open(t.path, error);
    REQUIRE(a);
    REQUIRE(b);
    StoredKey k;
    k.name = "ci";
    k.secret_sha256 = secret_digest("x");
    k.hint = "x";
    REQUIRE_FALSE(b->add_key(k));
    CHECK(*a->keys_version() == *b->keys_version());
    CHECK(a->keys(error)->size() == 1);
}
