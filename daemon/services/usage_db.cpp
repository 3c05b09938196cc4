#include "daemon/services/usage_db.hpp"

#include "protocol/json_parse.hpp"

#include <boost/json/serialize.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <cstdio>

namespace ksid::daemon {
namespace json = boost::json;

// One prepared statement, finalized when it goes out of scope.
class UsageDb::Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        ok_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) == SQLITE_OK;
    }
    ~Statement() { sqlite3_finalize(s_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    bool ok() const { return ok_; }
    void bind(int i, const std::string& v) {
        sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    }
    void bind(int i, double v) { sqlite3_bind_double(s_, i, v); }
    void bind(int i, long long v) { sqlite3_bind_int64(s_, i, v); }
    void bind_null(int i) { sqlite3_bind_null(s_, i); }
    int step() { return sqlite3_step(s_); }
    std::string text(int i) const {
        const auto* p = sqlite3_column_text(s_, i);
        return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, i)) : std::string();
    }
    long long integer(int i) const { return sqlite3_column_int64(s_, i); }
    double real(int i) const { return sqlite3_column_double(s_, i); }
    bool is_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }

private:
    sqlite3_stmt* s_ = nullptr;
    bool ok_ = false;
};

namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES('keys_version', 0);
CREATE TABLE IF NOT EXISTS keys(
  name TEXT PRIMARY KEY,
  secret_sha256 TEXT NOT NULL UNIQUE,
  hint TEXT NOT NULL,
  admin INTEGER NOT NULL DEFAULT 0,
  limits TEXT NOT NULL DEFAULT '{}',
  created REAL NOT NULL,
  revoked REAL);
CREATE TABLE IF NOT EXISTS turns(
  id INTEGER PRIMARY KEY,
  time REAL NOT NULL,
  request_id TEXT NOT NULL,
  job_id TEXT NOT NULL,
  key TEXT NOT NULL,
  transport TEXT NOT NULL,
  model TEXT NOT NULL,
  backend TEXT NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_creation_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  duration_ms INTEGER NOT NULL,
  queue_wait_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  admitted INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS turns_time ON turns(time);
CREATE INDEX IF NOT EXISTS turns_key_time ON turns(key, time);
)sql";

} // namespace

std::unique_ptr<UsageDb> UsageDb::open(const std::string& path, std::string& error) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        error = "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return nullptr;
    }
    std::unique_ptr<UsageDb> u(new UsageDb(db));
    sqlite3_busy_timeout(db, 5000);
    for (const char* sql :
         {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON", schema}) {
        if (auto err = u->exec(sql)) {
            error = path + ": " + *err;
            return nullptr;
        }
    }
    return u;
}

UsageDb::~UsageDb() {
    sqlite3_close(db_);
}

std::string UsageDb::last_error() const {
    return sqlite3_errmsg(db_);
}

std::optional<std::string> UsageDb::exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return std::nullopt;
    std::string err = msg ? msg : last_error();
    sqlite3_free(msg);
    return err;
}

std::optional<std::string> UsageDb::bump_keys_version() {
    return exec("UPDATE meta SET v = v + 1 WHERE k = 'keys_version'");
}

std::optional<long long> UsageDb::keys_version() {
    Statement s(db_, "SELECT v FROM meta WHERE k = 'keys_version'");
    if (!s.ok() || s.step() != SQLITE_ROW) return std::nullopt;
    return s.integer(0);
}

std::optional<std::vector<StoredKey>> UsageDb::keys(std::string& error) {
    Statement s(db_,
                "SELECT name, secret_sha256, hint, admin, limits, created, revoked FROM keys ORDER BY name");
    if (!s.ok()) {
        error = last_error();
        return std::nullopt;
    }
    std::vector<StoredKey> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
        StoredKey k;
        k.name = s.text(0);
        k.secret_sha256 = s.text(1);
        k.hint = s.text(2);
        k.admin = s.integer(3) != 0;
        // Limits that no longer parse (edited by hand) count as none rather than locking the key out.
        if (auto v = protocol::parse_json_text(s.text(4), 8); v && v->is_object())
            protocol::apply_key_limits(v->get_object(), k.limits);
        k.created = s.real(5);
        if (!s.is_null(6)) k.revoked = s.real(6);
        out.push_back(std::move(k));
    }
    if (rc != SQLITE_DONE) {
        error = last_error();
        return std::nullopt;
    }
    return out;
}

std::optional<std::string> UsageDb::change_keys(const std::function<std::optional<std::string>()>& change) {
    if (auto err = exec("BEGIN IMMEDIATE")) return err;
    auto err = change();
    if (!err) err = bump_keys_version();
    if (err) {
        exec("ROLLBACK");
        return err;
    }
    return exec("COMMIT");
}

std::optional<std::string> UsageDb::change_one_key(Statement& update, const std::string& missing) {
    if (update.step() != SQLITE_DONE) return last_error();
    if (sqlite3_changes(db_) != 1) return missing;
    return std::nullopt;
}

std::optional<std::string> UsageDb::add_key(const StoredKey& k) {
    return change_keys([&]() -> std::optional<std::string> {
        Statement existing(db_, "SELECT revoked FROM keys WHERE name = ?1");
        existing.bind(1, k.name);
        if (existing.step() == SQLITE_ROW && existing.is_null(0))
            return "a key named '" + k.name + "' exists (revoke it first, or use `set`)";
        Statement s(db_,
                    "INSERT OR REPLACE INTO keys(name, secret_sha256, hint, admin, limits, created, revoked) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, NULL)");
        s.bind(1, k.name);
        s.bind(2, k.secret_sha256);
        s.bind(3, k.hint);
        s.bind(4, static_cast<long long>(k.admin));
        s.bind(5, json::serialize(protocol::key_limits_json(k.limits)));
        s.bind(6, k.created);
        if (s.step() != SQLITE_DONE) return last_error();
        return std::nullopt;
    });
}

std::optional<std::string> UsageDb::update_key(const StoredKey& k) {
    return change_keys([&] {
        Statement s(db_, "UPDATE keys SET admin = ?2, limits = ?3 WHERE name = ?1 AND revoked IS NULL");
        s.bind(1, k.name);
        s.bind(2, static_cast<long long>(k.admin));
        s.bind(3, json::serialize(protocol::key_limits_json(k.limits)));
        return change_one_key(s, "no key named '" + k.name + "'");
    });
}

std::optional<std::string> UsageDb::revoke_key(const std::string& name, double when) {
    return change_keys([&] {
        Statement s(db_, "UPDATE keys SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL");
        s.bind(1, name);
        s.bind(2, when);
        return change_one_key(s, "no active key named '" + name + "'");
    });
}

std::optional<std::string> UsageDb::append(const UsageRecord& r) {
    Statement s(db_,
                "INSERT INTO turns(time, request_id, job_id, key, transport, model, backend, input_tokens, "
                "output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, duration_ms, "
                "queue_wait_ms, outcome, admitted) "
                "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)");
    if (!s.ok()) return last_error();
    s.bind(1, r.time);
    s.bind(2, r.request_id);
    s.bind(3, r.job_id);
    s.bind(4, r.key);
    s.bind(5, r.transport);
    s.bind(6, r.model);
    s.bind(7, r.backend);
    s.bind(8, r.input_tokens);
    s.bind(9, r.output_tokens);
    s.bind(10, r.cache_creation_tokens);
    s.bind(11, r.cache_read_tokens);
    s.bind(12, r.cost_usd);
    s.bind(13, r.duration_ms);
    s.bind(14, r.queue_wait_ms);
    s.bind(15, r.outcome);
    s.bind(16, static_cast<long long>(r.admitted));
    if (s.step() != SQLITE_DONE) return last_error();
    return std::nullopt;
}

std::optional<std::vector<UsageRow>> UsageDb::summary(const UsageQuery& q, std::string& error) {
    std::string groups;
    auto group = [&](const char* col) { groups += (groups.empty() ? "" : ", ") + std::string(col); };
    if (q.by_key) group("key");
    if (q.by_model) group("model");
    if (q.by_day) group("day");
    const std::string sql = std::string("SELECT ") + (q.by_key ? "key" : "''") + ", " +
                            (q.by_model ? "model" : "''") + ", " +
                            (q.by_day ? "date(time, 'unixepoch') AS day" : "'' AS day") +
                            ", sum(admitted), sum(1 - admitted), sum(input_tokens), sum(output_tokens), "
                            "sum(cache_creation_tokens + cache_read_tokens), sum(cost_usd), "
                            "sum(CASE WHEN admitted = 1 AND outcome <> 'completed' THEN 1 ELSE 0 END), "
                            "sum(input_tokens + cache_creation_tokens + output_tokens) "
                            "FROM turns WHERE time >= ?1 AND time < ?2" +
                            (q.key ? " AND key = ?3" : "") +
                            (groups.empty() ? "" : " GROUP BY " + groups + " ORDER BY " + groups);
    Statement s(db_, sql.c_str());
    if (!s.ok()) {
        error = last_error();
        return std::nullopt;
    }
    s.bind(1, q.start);
    s.bind(2, q.end);
    if (q.key) s.bind(3, *q.key);
    std::vector<UsageRow> rows;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
        if (groups.empty() && s.is_null(3)) break; // no rows at all
        UsageRow r;
        r.key = s.text(0);
        r.model = s.text(1);
        r.day = s.text(2);
        r.requests = s.integer(3);
        r.refused = s.integer(4);
        r.input_tokens = s.integer(5);
        r.output_tokens = s.integer(6);
        r.cache_tokens = s.integer(7);
        r.cost_usd = s.real(8);
        r.errors = s.integer(9);
        r.counted_tokens = s.integer(10);
        rows.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        error = last_error();
        return std::nullopt;
    }
    return rows;
}

std::optional<std::vector<UsageRecord>> UsageDb::recent(std::size_t limit, std::string& error) {
    Statement s(db_, "SELECT time, request_id, job_id, key, transport, model, backend, input_tokens, "
                     "output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, duration_ms, "
                     "queue_wait_ms, outcome, admitted FROM turns ORDER BY id DESC LIMIT ?1");
    if (!s.ok()) {
        error = last_error();
        return std::nullopt;
    }
    s.bind(1, static_cast<long long>(limit));
    std::vector<UsageRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
        UsageRecord r;
        r.time = s.real(0);
        r.request_id = s.text(1);
        r.job_id = s.text(2);
        r.key = s.text(3);
        r.transport = s.text(4);
        r.model = s.text(5);
        r.backend = s.text(6);
        r.input_tokens = s.integer(7);
        r.output_tokens = s.integer(8);
        r.cache_creation_tokens = s.integer(9);
        r.cache_read_tokens = s.integer(10);
        r.cost_usd = s.real(11);
        r.duration_ms = s.integer(12);
        r.queue_wait_ms = s.integer(13);
        r.outcome = s.text(14);
        r.admitted = s.integer(15) != 0;
        out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) {
        error = last_error();
        return std::nullopt;
    }
    return out;
}

std::optional<long long> UsageDb::prune(double before, std::string& error) {
    Statement s(db_, "DELETE FROM turns WHERE time < ?1");
    s.bind(1, before);
    if (s.step() != SQLITE_DONE) {
        error = last_error();
        return std::nullopt;
    }
    return sqlite3_changes(db_);
}

std::string secret_digest(std::string_view secret) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(secret.data(), secret.size(), md, &len, EVP_sha256(), nullptr);
    std::string hex;
    char b[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(b, sizeof b, "%02x", md[i]);
        hex += b;
    }
    return hex;
}

std::string new_key_secret() {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string s = "ksid-";
    unsigned char bytes[64];
    while (s.size() < 45) {
        RAND_bytes(bytes, sizeof bytes);
        for (unsigned char b : bytes)
            if (b < 248 && s.size() < 45) s += alphabet[b % 62]; // 248 = 4 * 62: no bias
    }
    return s;
}

} // namespace ksid::daemon
