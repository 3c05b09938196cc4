#pragma once
// The usage database (SQLite, WAL): the API keys (name, SHA-256 of the secret, limits) and the usage
// ledger (one row per turn, whatever the transport or backend). One UsageDb is one connection, used by one
// thread: the daemon keeps one on its loop for the keys and one on its BlockingWorker for the ledger;
// `ksid keys` and `ksid usage` open their own. Committed rows survive a crash of any of them (WAL,
// synchronous=NORMAL: a process crash loses nothing committed; a power loss at most the last moments).
#include "protocol/key_limits.hpp"

#include <boost/json/array.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace ksid::daemon {

struct StoredKey {
    std::string name;
    std::string secret_sha256; // hex
    std::string hint;          // the secret's first characters, for people ("ksid-AbC1…")
    bool admin = false;
    protocol::KeyLimits limits;
    double created = 0;            // Unix seconds
    std::optional<double> revoked; // when it was revoked
};

struct UsageRecord {
    double time = 0; // Unix seconds, when the turn ended (or was refused)
    std::string request_id;
    std::string job_id;
    std::string key;       // tenant: the key's name, "local" for socket clients, "open" without keys
    std::string transport; // socket, openai, anthropic
    std::string model;
    std::string backend; // cli, warm, upstream
    long long input_tokens = 0;
    long long output_tokens = 0;
    long long cache_creation_tokens = 0;
    long long cache_read_tokens = 0;
    double cost_usd = 0;
    long long duration_ms = 0;
    long long queue_wait_ms = 0;
    std::string outcome;  // completed, claude_error, rate_limited, ... (turn_end_cause)
    bool admitted = true; // false: refused before it ran (counts for no budget)
};

// Sums of the ledger over a time range, one row per group.
struct UsageRow {
    std::string key, model, day; // the grouped-by columns ("" when not grouped by it)
    long long requests = 0, refused = 0, input_tokens = 0, output_tokens = 0, cache_tokens = 0;
    long long counted_tokens = 0; // input + cache writes + output: what limits and budgets count
    double cost_usd = 0;
    long long errors = 0;
};

struct UsageQuery {
    double start = 0, end = 0; // [start, end) Unix seconds
    bool by_key = true, by_model = false, by_day = false;
    std::optional<std::string> key; // only this tenant
};

class UsageDb {
public:
    // Opens (creating the file, its directory must exist) and brings the schema up to date.
    static std::unique_ptr<UsageDb> open(const std::string& path, std::string& error);
    ~UsageDb();
    UsageDb(const UsageDb&) = delete;
    UsageDb& operator=(const UsageDb&) = delete;

    // Keys. Each change bumps keys_version (the daemon polls it to see changes made by `ksid keys`).
    std::optional<std::vector<StoredKey>> keys(std::string& error);
    std::optional<std::string> add_key(const StoredKey& key);    // replaces a revoked key of that name
    std::optional<std::string> update_key(const StoredKey& key); // limits and admin
    std::optional<std::string> revoke_key(const std::string& name, double when);
    std::optional<long long> keys_version();

    // The ledger.
    std::optional<std::string> append(const UsageRecord& record);
    std::optional<std::vector<UsageRow>> summary(const UsageQuery& query, std::string& error);
    // The latest `limit` records, newest first (the dashboard, `ksid usage --recent`).
    std::optional<std::vector<UsageRecord>> recent(std::size_t limit, std::string& error);
    // Removes records older than `before`; returns how many.
    std::optional<long long> prune(double before, std::string& error);

private:
    class Statement;
    explicit UsageDb(sqlite3* db) : db_(db) {}
    // One change to the keys, in a transaction that also bumps keys_version (rolled back on an error).
    std::optional<std::string> change_keys(const std::function<std::optional<std::string>()>& change);
    // Runs an UPDATE that must change exactly one key: `missing` when it changed none.
    std::optional<std::string> change_one_key(Statement& update, const std::string& missing);
    std::optional<std::string> exec(const char* sql);
    std::optional<std::string> bump_keys_version();
    std::string last_error() const;
    sqlite3* db_;
};

// SHA-256 of a secret, in lowercase hex.
std::string secret_digest(std::string_view secret);
// A new secret: "ksid-" and 40 random base62 characters.
std::string new_key_secret();

} // namespace ksid::daemon
