#pragma once
// Who may run what, and what it used: the tenants (API keys from the usage database and the configured
// key lists, plus "local" for the socket clients), their limits (concurrency, requests and tokens per
// minute, daily and monthly budgets, models, priority, tools), the subscription limits the CLI reports,
// and the usage ledger every turn is recorded in. The TurnService asks it before a turn is queued and tells
// it how the turn ended; the facade asks it who a key is, and shows its state.
//
// The windows and running counts live in memory (they are about the last minute); the budgets are the
// ledger's sums, read at start-up and kept up to date, so a restart forgets nothing. The ledger is written
// on the BlockingWorker's thread, in order; keys are read and changed on the loop (a small table).
#include "config/config.hpp"
#include "daemon/core/blocking_worker.hpp"
#include "daemon/core/error.hpp"
#include "daemon/services/usage_db.hpp"
#include "daemon/turns/job_queue.hpp"
#include "protocol/key_limits.hpp"
#include "protocol/rate_limit_headers.hpp"
#include "protocol/rate_window.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <spdlog/logger.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace ksid::daemon {

// Why a turn was refused before it was queued.
struct LimitRefusal {
    errc error = errc::rate_limited;
    std::string message;
    std::int64_t retry_after_ms = 0;  // rate_limited
    protocol::RateLimitReport report; // the tenant's windows, for the headers
};

// A running or queued turn, as the dashboard lists it.
struct ActiveTurn {
    std::weak_ptr<Job> job;
    std::string tenant, model, transport, origin, request_id;
    std::optional<std::int64_t>
        subscription_reset; // the CLI said "rejected" during it: when it resets (Unix s)
    std::string subscription_type;
};

// The latest subscription-limit state of one limit type (five_hour, seven_day, ...).
struct SubscriptionLimit {
    std::string type;
    std::string status;              // allowed, allowed_warning, rejected
    std::optional<double> resets_at; // Unix seconds
    std::optional<double> utilization;
    double updated = 0;
    boost::json::object raw;
};

struct RecentError {
    double time = 0;
    std::string request_id, job, tenant, message;
    int status = 0;
};

class UsageGovernor {
public:
    UsageGovernor(asio::any_io_executor executor, const config::Config& config, BlockingWorker& worker,
                  std::shared_ptr<spdlog::logger> log);
    ~UsageGovernor();

    // Opens the database (usage.database), reads the keys and this day's and month's sums, prunes past
    // usage.retention. An error text stops the start.
    std::optional<std::string> start();
    // SIGHUP: the configured keys and the local tenant's limits again.
    void configure(const std::vector<std::string>& configured_keys,
                   const std::vector<std::string>& admin_keys);

    // The tenant a presented secret belongs to (constant time in the secret), or nullptr.
    struct Tenant;
    const Tenant* find_by_secret(std::string_view secret) const;
    const Tenant* find(const std::string& name) const;
    // True when any key exists (then every facade request needs one).
    bool has_keys() const;

    // Admits a turn of `tenant` ("" : no tenant, nothing is limited or recorded per key) for `request`
    // with `estimated_tokens`; adjusts the request (priority). On refusal the refusal says why; the
    // refusal is recorded in the ledger.
    std::optional<LimitRefusal> admit(TurnRequest& request, std::int64_t estimated_tokens);
    // A turn that was admitted got a job (register) or was refused by the queue (take back).
    void started(const std::shared_ptr<Job>& job);
    void take_back(const TurnRequest& request, boost::system::error_code why);
    // A rate_limit_event of a job's run.
    void note_subscription(const std::string& job_id, const boost::json::object& info);
    // How a turn ended: the ledger row, the budgets, the token window settled with what was used. Resumes
    // once the row is committed (a client that got its answer has its usage on disk). Returns the
    // subscription rejection seen during the turn (its limit type and reset time), if any.
    asio::awaitable<std::optional<std::pair<std::string, std::int64_t>>> finished(const Job& job,
                                                                                  const TurnOutcome& outcome);
    void note_error(RecentError e);

    // The tenant's windows now, for a response's headers.
    protocol::RateLimitReport report(const std::string& tenant);

    // Keys, for the admin API (changes go to the database, then apply here at once).
    std::optional<std::string> add_key(StoredKey key);
    std::optional<std::string> set_key(const std::string& name, const boost::json::object& change,
                                       std::optional<bool> admin);
    std::optional<std::string> revoke_key(const std::string& name);
    std::vector<StoredKey> stored_keys() const;

    // The ledger's sums (on the worker thread), as JSON rows; nullopt and `error` when it failed.
    asio::awaitable<std::optional<boost::json::array>> usage(UsageQuery query, std::string& error);

    // For the dashboard and /v1/usage.
    const std::unordered_map<std::string, ActiveTurn>& active() const { return active_; }
    const std::map<std::string, SubscriptionLimit>& subscription() const { return subscription_; }
    // The same as JSON (GET /v1/usage/quota, the dashboard): type, status, resets_at, utilization, updated.
    boost::json::array subscription_json() const;
    const std::deque<RecentError>& errors() const { return errors_; }
    boost::json::object tenant_usage_json(const std::string& tenant);
    // Every tenant there is, and every one that used something today or this month.
    std::vector<std::string> tenant_names() const;
    // Tokens per minute of the last hour, by tenant and by model.
    boost::json::object series_json(double now);
    bool cancel(const std::string& job_id);
    // Counts changes a dashboard shows at once (a turn started or ended, a key or a limit changed).
    std::uint64_t version() const { return version_; }

    struct Tenant {
        std::string name;
        bool admin = false;
        bool configured = false; // from the configuration's key lists (no limits, not in the database)
        protocol::KeyLimits limits;
    };

private:
    struct Budget {
        long long requests = 0, tokens = 0;
        double usd = 0;
    };
    struct TenantState {
        std::unique_ptr<protocol::RateWindow> rpm, tpm;
        std::int64_t running = 0;
        Budget day, month;
    };
    struct Admitted {
        std::string tenant;
        std::optional<std::uint64_t> rpm_entry, tpm_entry;
        double queued_at = 0;
    };

    void load_keys();
    void poll_keys();
    void rebuild_tenants();
    TenantState& state_of(const std::string& tenant);
    void roll_periods(double now);
    void record(UsageRecord r);                  // in the background (refusals)
    asio::awaitable<void> commit(UsageRecord r); // ... and waits until it is on disk
    void apply_to_budgets(const UsageRecord& r);
    void add_to_series(const UsageRecord& r);
    std::int64_t now_ms() const;

    asio::any_io_executor executor_;
    const config::Config& config_;
    BlockingWorker& worker_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<UsageDb> keys_db_;   // on the loop
    std::shared_ptr<UsageDb> ledger_db_; // on the worker thread only
    long long keys_version_ = -1;
    std::vector<StoredKey> stored_;
    std::vector<std::string> configured_keys_, admin_keys_;
    std::map<std::string, Tenant> tenants_;
    std::unordered_map<std::string, std::string> by_digest_; // secret's SHA-256 → tenant
    std::map<std::string, TenantState> states_;
    std::unordered_map<std::uint64_t, Admitted> admitted_; // TurnRequest::admission → its admission
    std::unordered_map<std::string, ActiveTurn> active_;   // job id
    std::map<std::string, SubscriptionLimit> subscription_;
    std::deque<RecentError> errors_;
    std::string day_, month_; // the periods the budgets are for ("2026-12-02", "2026-12")
    // Tokens per minute for the last 60 minutes: minute (Unix s / 60) → name → tokens.
    std::map<long long, std::map<std::string, long long>> by_key_minute_, by_model_minute_;
    asio::steady_timer poll_timer_;
    bool stopped_ = false;
    std::uint64_t next_admission_ = 1;
    std::uint64_t version_ = 0;
};

// Where turns run: "cli", "warm" or "upstream" (the ledger's backend column, the dashboard).
std::string_view turn_backend_name(const config::Config& config);

// The tokens a turn counts for in tokens-per-minute windows and budgets: input (uncached and cache
// writes) and output. Cache reads are left out, as Anthropic's own input-token limits leave them out.
long long counted_tokens(const UsageRecord& r);

} // namespace ksid::daemon
