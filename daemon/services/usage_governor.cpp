#include "daemon/services/usage_governor.hpp"

#include "daemon/core/filesystem.hpp"
#include "daemon/services/turn_service.hpp"
#include "protocol/claude_output.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>

#include <cmath>
#include <ctime>
#include <set>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

constexpr std::size_t max_recent_errors = 50;
constexpr long long series_minutes = 60;

std::string utc_text(double t, const char* format) {
    const std::time_t s = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

// Unix seconds of the next UTC midnight after `t`.
double next_day(double t) {
    return std::floor(t / 86400) * 86400 + 86400;
}

std::string money(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

} // namespace

std::string_view turn_backend_name(const config::Config& c) {
    if (c.api_shim.enabled) return "upstream";
    if (c.pool.enabled) return "warm";
    return "cli";
}

long long counted_tokens(const UsageRecord& r) {
    return r.input_tokens + r.cache_creation_tokens + r.output_tokens;
}

UsageGovernor::UsageGovernor(asio::any_io_executor executor, const config::Config& config,
                             BlockingWorker& worker, std::shared_ptr<spdlog::logger> log)
    : executor_(executor), config_(config), worker_(worker), log_(std::move(log)), poll_timer_(executor) {}

UsageGovernor::~UsageGovernor() {
    stopped_ = true;
    poll_timer_.cancel();
}

std::int64_t UsageGovernor::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::optional<std::string> UsageGovernor::start() {
    if (!config_.usage.enabled) {
        rebuild_tenants();
        return std::nullopt;
    }
    const auto slash = config_.usage.database.find_last_of('/');
    const auto dir = slash == std::string::npos ? std::string() : config_.usage.database.substr(0, slash);
    if (!dir.empty())
        if (auto ec = ensure_directory(dir)) return "cannot create " + dir + ": " + ec.message();
    std::string error;
    keys_db_ = UsageDb::open(config_.usage.database, error);
    if (!keys_db_) return "usage.database: " + error;
    auto ledger = UsageDb::open(config_.usage.database, error);
    if (!ledger) return "usage.database: " + error;
    ledger_db_ = std::move(ledger);
    load_keys();
    const double now = protocol::unix_time_now();
    if (auto pruned = keys_db_->prune(now - 86400.0 * config_.usage.retention_days, error); pruned && *pruned)
        log_->info("Usage ledger: {} records older than {} days removed (usage.retention_days)", *pruned,
                   config_.usage.retention_days);
    // The budgets: this day's and month's sums, from the ledger (the truth across restarts).
    day_ = utc_text(now, "%Y-%m-%d");
    month_ = utc_text(now, "%Y-%m");
    for (int period = 0; period < 2; ++period) {
        UsageQuery q;
        q.start = period == 0 ? std::floor(now / 86400) * 86400 : protocol::utc_month_start(now);
        q.end = now + 86400;
        auto rows = keys_db_->summary(q, error);
        if (!rows) return "usage.database: " + error;
        for (const auto& r : *rows) {
            auto& b = period == 0 ? state_of(r.key).day : state_of(r.key).month;
            b.requests = r.requests;
            b.tokens = r.counted_tokens;
            b.usd = r.cost_usd;
        }
    }
    asio::co_spawn(
        executor_,
        [this]() -> asio::awaitable<void> {
            while (!stopped_) {
                poll_timer_.expires_after(std::chrono::seconds(1));
                auto [ec] = co_await poll_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
                if (ec || stopped_) co_return;
                poll_keys();
            }
        },
        asio::detached);
    return std::nullopt;
}

void UsageGovernor::load_keys() {
    if (!keys_db_) return;
    std::string error;
    auto version = keys_db_->keys_version();
    auto keys = keys_db_->keys(error);
    if (!keys) {
        log_->error("Usage database: cannot read the keys: {}", error);
        return;
    }
    keys_version_ = version.value_or(-1);
    stored_ = std::move(*keys);
    rebuild_tenants();
}

void UsageGovernor::poll_keys() {
    auto version = keys_db_ ? keys_db_->keys_version() : std::nullopt;
    if (!version || *version == keys_version_) return;
    log_->info("API keys changed in {}: read again", config_.usage.database);
    load_keys();
}

void UsageGovernor::configure(const std::vector<std::string>& configured_keys,
                              const std::vector<std::string>& admin_keys) {
    configured_keys_ = configured_keys;
    admin_keys_ = admin_keys;
    rebuild_tenants();
}

void UsageGovernor::rebuild_tenants() {
    std::map<std::string, Tenant> tenants;
    std::unordered_map<std::string, std::string> digests;
    Tenant local{"local", false, true, {}};
    protocol::apply_key_limit_options(config_.usage.local_limits, local.limits); // validated at load
    tenants["local"] = local;
    for (std::size_t i = 0; i < configured_keys_.size(); ++i) {
        const std::string name = "config#" + std::to_string(i + 1);
        tenants[name] = Tenant{name, false, true, {}};
        digests[secret_digest(configured_keys_[i])] = name;
    }
    for (std::size_t i = 0; i < admin_keys_.size(); ++i) {
        const std::string name = "admin#" + std::to_string(i + 1);
        tenants[name] = Tenant{name, true, true, {}};
        digests[secret_digest(admin_keys_[i])] = name;
    }
    for (const auto& k : stored_) {
        if (k.revoked) continue;
        tenants[k.name] = Tenant{k.name, k.admin, false, k.limits};
        digests[k.secret_sha256] = k.name;
    }
    // Turns of a key that is gone (revoked) stop now.
    for (auto& [id, turn] : active_)
        if (!turn.tenant.empty() && !tenants.contains(turn.tenant) && tenants_.contains(turn.tenant))
            if (auto job = turn.job.lock()) {
                log_->warn("Turn {}: its API key '{}' was revoked; stopped", id, turn.tenant);
                job->cancel(errc::key_revoked);
            }
    tenants_ = std::move(tenants);
    by_digest_ = std::move(digests);
    ++version_;
    for (const auto& [name, t] : tenants_) {
        auto& s = state_of(name);
        auto window = [](std::unique_ptr<protocol::RateWindow>& w, const std::optional<std::int64_t>& limit) {
            if (!limit)
                w.reset();
            else if (!w)
                w = std::make_unique<protocol::RateWindow>(*limit, 60'000);
            else
                w->set_limit(*limit);
        };
        window(s.rpm, t.limits.rpm);
        window(s.tpm, t.limits.tpm);
    }
}

const UsageGovernor::Tenant* UsageGovernor::find_by_secret(std::string_view secret) const {
    // The digest is compared through a hash map: what a timing could reveal is about the digest, which
    // says nothing about the secret.
    auto it = by_digest_.find(secret_digest(secret));
    if (it == by_digest_.end()) return nullptr;
    return find(it->second);
}

const UsageGovernor::Tenant* UsageGovernor::find(const std::string& name) const {
    auto it = tenants_.find(name);
    return it == tenants_.end() ? nullptr : &it->second;
}

bool UsageGovernor::has_keys() const {
    return by_digest_.size() > 0;
}

UsageGovernor::TenantState& UsageGovernor::state_of(const std::string& tenant) {
    return states_[tenant];
}

void UsageGovernor::roll_periods(double now) {
    const auto day = utc_text(now, "%Y-%m-%d");
    const auto month = utc_text(now, "%Y-%m");
    if (day != day_) {
        for (auto& [name, s] : states_)
            s.day = {};
        day_ = day;
    }
    if (month != month_) {
        for (auto& [name, s] : states_)
            s.month = {};
        month_ = month;
    }
}

std::optional<LimitRefusal> UsageGovernor::admit(TurnRequest& request, std::int64_t estimated_tokens) {
    if (request.tenant.empty()) return std::nullopt;
    const Tenant* tenant = find(request.tenant);
    if (!tenant) { // revoked between authentication and here
        LimitRefusal r{errc::key_revoked, "the API key '" + request.tenant + "' was revoked", 0, {}};
        return r;
    }
    const auto& l = tenant->limits;
    request.priority = std::clamp(request.priority + (l.priority - 5), 0, 9);
    auto& s = state_of(tenant->name);
    const double now = protocol::unix_time_now();
    roll_periods(now);
    const auto t = now_ms();
    auto refuse = [&](errc e, std::string message, std::int64_t retry_ms) -> std::optional<LimitRefusal> {
        LimitRefusal r{e, std::move(message), retry_ms, report(tenant->name)};
        UsageRecord rec;
        rec.time = now;
        rec.request_id = request.request_id;
        rec.key = tenant->name;
        rec.transport = request.transport;
        rec.model = request.model;
        rec.backend = std::string(turn_backend_name(config_));
        rec.outcome = "rate_limited";
        rec.admitted = false;
        record(std::move(rec));
        note_error(
            {now, request.request_id, "", tenant->name, r.message, e == errc::rate_limited ? 429 : 403});
        return r;
    };
    if (!l.models.empty() && std::find(l.models.begin(), l.models.end(), request.model) == l.models.end()) {
        std::string list;
        for (const auto& m : l.models)
            list += (list.empty() ? "" : ", ") + m;
        return refuse(errc::model_not_allowed,
                      "the key '" + tenant->name + "' may not use the model '" + request.model +
                          "' (allowed: " + list + ")",
                      0);
    }
    if (!l.tools && (request.enable_tools || request.client_tools))
        return refuse(errc::model_not_allowed, "the key '" + tenant->name + "' may not enable tools", 0);
    const double to_day = (next_day(now) - now) * 1000,
                 to_month = (protocol::utc_month_start(now, 1) - now) * 1000;
    struct Budget {
        const std::optional<std::int64_t>* count;
        const std::optional<double>* usd;
        double used;
        const char* what;
        double reset_ms;
        bool requests;
    };
    const Budget budgets[] = {
        {&l.daily_requests, nullptr, double(s.day.requests), "daily request budget", to_day, true},
        {&l.daily_tokens, nullptr, double(s.day.tokens), "daily token budget", to_day, false},
        {nullptr, &l.daily_usd, s.day.usd, "daily USD budget", to_day, false},
        {&l.monthly_requests, nullptr, double(s.month.requests), "monthly request budget", to_month, true},
        {&l.monthly_tokens, nullptr, double(s.month.tokens), "monthly token budget", to_month, false},
        {nullptr, &l.monthly_usd, s.month.usd, "monthly USD budget", to_month, false},
    };
    for (const auto& b : budgets) {
        const double limit = b.count ? (*b.count ? double(**b.count) : -1) : (*b.usd ? **b.usd : -1);
        if (limit < 0) continue;
        // A request budget refuses the request that would pass it; a token or USD budget refuses once
        // what was used reached it (a turn's size is known only when it ends).
        const bool over = b.requests ? b.used + 1 > limit : b.used >= limit;
        if (over) {
            const std::string used =
                b.usd ? money(b.used) + " of " + money(limit) + " USD"
                      : std::to_string((long long)b.used) + " of " + std::to_string((long long)limit);
            return refuse(errc::rate_limited,
                          "the key '" + tenant->name + "' has used its " + b.what + " (" + used + ")",
                          static_cast<std::int64_t>(b.reset_ms));
        }
    }
    if (l.concurrent && s.running >= *l.concurrent)
        return refuse(errc::rate_limited,
                      "the key '" + tenant->name + "' has " + std::to_string(s.running) +
                          " turns running, its limit (concurrent: " + std::to_string(*l.concurrent) + ")",
                      1000);
    if (s.rpm && s.rpm->wait_for(t, 1) > 0)
        return refuse(errc::rate_limited,
                      "the key '" + tenant->name + "' reached its limit of " +
                          std::to_string(s.rpm->limit()) + " requests per minute",
                      s.rpm->wait_for(t, 1));
    if (s.tpm && s.tpm->wait_for(t, estimated_tokens) > 0 && s.tpm->used(t) > 0)
        return refuse(errc::rate_limited,
                      "the key '" + tenant->name + "' reached its limit of " +
                          std::to_string(s.tpm->limit()) + " tokens per minute",
                      s.tpm->wait_for(t, estimated_tokens));
    Admitted a;
    a.tenant = tenant->name;
    if (s.rpm) a.rpm_entry = s.rpm->admit(t, 1);
    if (s.tpm) a.tpm_entry = s.tpm->admit(t, estimated_tokens);
    a.queued_at = now;
    ++s.running;
    request.admission = next_admission_++;
    admitted_[request.admission] = std::move(a);
    return std::nullopt;
}

void UsageGovernor::started(const std::shared_ptr<Job>& job) {
    const auto& r = job->request();
    ++version_;
    active_[job->id()] = ActiveTurn{job, r.tenant, r.model, r.transport, r.origin, r.request_id, {}, {}};
}

void UsageGovernor::take_back(const TurnRequest& request, boost::system::error_code why) {
    if (!request.admission) return;
    auto it = admitted_.find(request.admission);
    if (it == admitted_.end()) return;
    auto& s = state_of(it->second.tenant);
    --s.running;
    if (s.rpm && it->second.rpm_entry) s.rpm->release(*it->second.rpm_entry);
    if (s.tpm && it->second.tpm_entry) s.tpm->release(*it->second.tpm_entry);
    UsageRecord rec;
    rec.time = protocol::unix_time_now();
    rec.request_id = request.request_id;
    rec.key = it->second.tenant;
    rec.transport = request.transport;
    rec.model = request.model;
    rec.backend = std::string(turn_backend_name(config_));
    rec.outcome = std::string(turn_end_cause(why));
    rec.admitted = false;
    admitted_.erase(it);
    record(std::move(rec));
}

void UsageGovernor::note_subscription(const std::string& job_id, const json::object& info) {
    SubscriptionLimit l;
    if (const auto* t = info.if_contains("rateLimitType"); t && t->is_string()) l.type = t->get_string();
    if (l.type.empty()) l.type = "unknown";
    if (const auto* st = info.if_contains("status"); st && st->is_string()) l.status = st->get_string();
    if (const auto* r = info.if_contains("resetsAt"); r && r->is_number())
        l.resets_at = r->to_number<double>();
    if (const auto* u = info.if_contains("utilization"); u && u->is_number())
        l.utilization = u->to_number<double>();
    l.updated = protocol::unix_time_now();
    l.raw = info;
    if (l.status == "rejected") {
        log_->warn("Claude subscription limit '{}' rejected a turn (job {}); it resets at {}", l.type, job_id,
                   l.resets_at ? utc_text(*l.resets_at, "%Y-%m-%dT%H:%M:%SZ")
                               : std::string("an unknown time"));
        if (auto it = active_.find(job_id); it != active_.end()) {
            it->second.subscription_reset = l.resets_at ? static_cast<std::int64_t>(*l.resets_at)
                                                        : static_cast<std::int64_t>(l.updated + 60);
            it->second.subscription_type = l.type;
        }
    }
    subscription_[l.type] = std::move(l);
    ++version_;
}

asio::awaitable<std::optional<std::pair<std::string, std::int64_t>>>
UsageGovernor::finished(const Job& job, const TurnOutcome& outcome) {
    const auto& request = job.request();
    std::optional<std::pair<std::string, std::int64_t>> rejected;
    ++version_;
    if (auto it = active_.find(job.id()); it != active_.end()) {
        if (it->second.subscription_reset)
            rejected = std::make_pair(it->second.subscription_type, *it->second.subscription_reset);
        active_.erase(it);
    }
    UsageRecord rec;
    rec.time = protocol::unix_time_now();
    rec.request_id = request.request_id;
    rec.job_id = job.id();
    rec.key = request.tenant.empty() ? "open" : request.tenant;
    rec.transport = request.transport;
    rec.model = request.model;
    rec.backend = std::string(turn_backend_name(config_));
    if (outcome.answer) {
        const auto& u = outcome.answer->usage;
        rec.input_tokens = protocol::usage_count(u, "input_tokens");
        rec.output_tokens = protocol::usage_count(u, "output_tokens");
        rec.cache_creation_tokens = protocol::usage_count(u, "cache_creation_input_tokens");
        rec.cache_read_tokens = protocol::usage_count(u, "cache_read_input_tokens");
        rec.cost_usd = outcome.answer->cost_usd;
    }
    const auto submitted = std::chrono::duration<double>(job.submitted_at().time_since_epoch()).count();
    if (const auto started = job.started_at()) {
        const auto s = std::chrono::duration<double>(started->time_since_epoch()).count();
        rec.queue_wait_ms = static_cast<long long>((s - submitted) * 1000);
        rec.duration_ms = static_cast<long long>((rec.time - s) * 1000);
    }
    rec.outcome =
        rejected && !outcome.ok() ? "subscription_limited" : std::string(turn_end_cause(outcome.error));
    rec.admitted = true;
    if (request.admission)
        if (auto it = admitted_.find(request.admission); it != admitted_.end()) {
            auto& s = state_of(it->second.tenant);
            --s.running;
            if (s.tpm && it->second.tpm_entry) s.tpm->settle(*it->second.tpm_entry, counted_tokens(rec));
            admitted_.erase(it);
        }
    if (!outcome.ok() && !is(outcome.error, errc::cancelled))
        note_error({rec.time, request.request_id, job.id(), rec.key,
                    outcome.detail.empty() ? outcome.error.message() : outcome.detail.substr(0, 300),
                    rejected ? 429 : 0});
    co_await commit(std::move(rec));
    co_return rejected;
}

void UsageGovernor::note_error(RecentError e) {
    errors_.push_front(std::move(e));
    while (errors_.size() > max_recent_errors)
        errors_.pop_back();
}

void UsageGovernor::apply_to_budgets(const UsageRecord& r) {
    if (!r.admitted) return;
    roll_periods(r.time);
    auto& s = state_of(r.key);
    for (Budget* b : {&s.day, &s.month}) {
        b->requests += 1;
        b->tokens += counted_tokens(r);
        b->usd += r.cost_usd;
    }
}

void UsageGovernor::add_to_series(const UsageRecord& r) {
    if (!r.admitted) return;
    const long long minute = static_cast<long long>(r.time / 60);
    const long long tokens = counted_tokens(r);
    by_key_minute_[minute][r.key] += tokens;
    by_model_minute_[minute][r.model] += tokens;
    while (!by_key_minute_.empty() && by_key_minute_.begin()->first <= minute - series_minutes)
        by_key_minute_.erase(by_key_minute_.begin());
    while (!by_model_minute_.empty() && by_model_minute_.begin()->first <= minute - series_minutes)
        by_model_minute_.erase(by_model_minute_.begin());
}

void UsageGovernor::record(UsageRecord r) {
    asio::co_spawn(executor_, commit(std::move(r)), asio::detached);
}

asio::awaitable<void> UsageGovernor::commit(UsageRecord r) {
    apply_to_budgets(r);
    add_to_series(r);
    if (!ledger_db_) co_return;
    // In order, on the worker thread; the loop goes on. A failure is logged (the turn itself is done).
    auto error = std::make_shared<std::string>();
    // (Built before the co_await: GCC 12 mishandles temporaries in co_await expressions.)
    std::function<std::error_code()> append = [db = ledger_db_, r, error]() -> std::error_code {
        if (auto err = db->append(r)) {
            *error = *err;
            return std::make_error_code(std::errc::io_error);
        }
        return {};
    };
    const auto ec = co_await worker_.run(std::move(append));
    if (ec) log_->error("Usage ledger: cannot record turn {} of '{}': {}", r.job_id, r.key, *error);
}

protocol::RateLimitReport UsageGovernor::report(const std::string& tenant) {
    protocol::RateLimitReport rep;
    auto it = states_.find(tenant);
    if (it == states_.end()) return rep;
    const auto t = now_ms();
    if (auto& w = it->second.rpm)
        rep.requests = protocol::WindowReport{w->limit(), w->remaining(t), w->reset_after(t)};
    if (auto& w = it->second.tpm)
        rep.tokens = protocol::WindowReport{w->limit(), w->remaining(t), w->reset_after(t)};
    return rep;
}

std::optional<std::string> UsageGovernor::add_key(StoredKey key) {
    if (!keys_db_) return "the usage database is off (usage.enabled: false)";
    if (!protocol::is_valid_key_name(key.name) || key.name == "local" || key.name == "open")
        return "a key's name is 1 to 64 of A-Z a-z 0-9 . _ - (not local or open), not starting with . or -";
    if (auto err = keys_db_->add_key(key)) return err;
    log_->info("API key '{}' added{}", key.name, key.admin ? " (admin)" : "");
    load_keys();
    return std::nullopt;
}

std::optional<std::string> UsageGovernor::set_key(const std::string& name, const json::object& change,
                                                  std::optional<bool> admin) {
    if (!keys_db_) return "the usage database is off (usage.enabled: false)";
    for (auto k : stored_) {
        if (k.name != name || k.revoked) continue;
        if (auto err = protocol::apply_key_limits(change, k.limits)) return err;
        if (admin) k.admin = *admin;
        if (auto err = keys_db_->update_key(k)) return err;
        log_->info("API key '{}': limits changed", name);
        load_keys();
        return std::nullopt;
    }
    return "no key named '" + name + "'";
}

std::optional<std::string> UsageGovernor::revoke_key(const std::string& name) {
    if (!keys_db_) return "the usage database is off (usage.enabled: false)";
    if (auto err = keys_db_->revoke_key(name, protocol::unix_time_now())) return err;
    log_->info("API key '{}' revoked", name);
    load_keys();
    return std::nullopt;
}

std::vector<StoredKey> UsageGovernor::stored_keys() const {
    return stored_;
}

asio::awaitable<std::optional<json::array>> UsageGovernor::usage(UsageQuery query, std::string& error) {
    if (!ledger_db_) {
        error = "the usage ledger is off (usage.enabled: false)";
        co_return std::nullopt;
    }
    auto rows = std::make_shared<std::vector<UsageRow>>();
    auto err = std::make_shared<std::string>();
    std::function<std::error_code()> summarise = [db = ledger_db_, query, rows, err]() -> std::error_code {
        auto r = db->summary(query, *err);
        if (!r) return std::make_error_code(std::errc::io_error);
        *rows = std::move(*r);
        return {};
    };
    auto ec = co_await worker_.run(std::move(summarise));
    if (ec) {
        error = err->empty() ? ec.message() : *err;
        co_return std::nullopt;
    }
    json::array out;
    for (const auto& r : *rows) {
        json::object o;
        if (query.by_key) o["key"] = r.key;
        if (query.by_model) o["model"] = r.model;
        if (query.by_day) o["day"] = r.day;
        o["requests"] = r.requests;
        o["refused"] = r.refused;
        o["errors"] = r.errors;
        o["input_tokens"] = r.input_tokens;
        o["output_tokens"] = r.output_tokens;
        o["cache_tokens"] = r.cache_tokens;
        o["counted_tokens"] = r.counted_tokens;
        o["cost_usd"] = r.cost_usd;
        out.push_back(std::move(o));
    }
    co_return out;
}

json::object UsageGovernor::tenant_usage_json(const std::string& tenant) {
    roll_periods(protocol::unix_time_now());
    auto& s = state_of(tenant);
    auto budget = [](const Budget& b) {
        return json::object{{"requests", b.requests}, {"tokens", b.tokens}, {"cost_usd", b.usd}};
    };
    json::object o{
        {"key", tenant}, {"today", budget(s.day)}, {"month", budget(s.month)}, {"running", s.running}};
    if (const Tenant* t = find(tenant)) o["limits"] = protocol::key_limits_json(t->limits);
    const auto rep = report(tenant);
    json::object windows;
    if (rep.requests)
        windows["requests"] = json::object{{"limit", rep.requests->limit},
                                           {"remaining", rep.requests->remaining},
                                           {"reset_ms", rep.requests->reset_ms}};
    if (rep.tokens)
        windows["tokens"] = json::object{{"limit", rep.tokens->limit},
                                         {"remaining", rep.tokens->remaining},
                                         {"reset_ms", rep.tokens->reset_ms}};
    o["windows"] = std::move(windows);
    return o;
}

json::array UsageGovernor::subscription_json() const {
    json::array out;
    for (const auto& [type, l] : subscription_)
        out.push_back(
            json::object{{"type", l.type},
                         {"status", l.status},
                         {"resets_at", l.resets_at ? json::value(*l.resets_at) : json::value(nullptr)},
                         {"utilization", l.utilization ? json::value(*l.utilization) : json::value(nullptr)},
                         {"updated", l.updated}});
    return out;
}

std::vector<std::string> UsageGovernor::tenant_names() const {
    std::set<std::string> names;
    for (const auto& [name, t] : tenants_)
        names.insert(name);
    for (const auto& [name, s] : states_)
        if (s.month.requests || s.running) names.insert(name);
    return {names.begin(), names.end()};
}

json::object UsageGovernor::series_json(double now) {
    const long long last = static_cast<long long>(now / 60);
    const long long first = last - series_minutes + 1;
    auto series = [&](const std::map<long long, std::map<std::string, long long>>& m) {
        std::map<std::string, json::array> by;
        for (const auto& [minute, names] : m)
            for (const auto& [name, tokens] : names)
                by.try_emplace(name, json::array(series_minutes, json::value(0)));
        for (const auto& [minute, names] : m) {
            if (minute < first || minute > last) continue;
            for (const auto& [name, tokens] : names)
                by[name][static_cast<std::size_t>(minute - first)] = tokens;
        }
        json::object o;
        for (auto& [name, a] : by)
            o[name] = std::move(a);
        return o;
    };
    return json::object{{"bucket_s", 60},
                        {"start", first * 60},
                        {"by_key", series(by_key_minute_)},
                        {"by_model", series(by_model_minute_)}};
}

bool UsageGovernor::cancel(const std::string& job_id) {
    auto it = active_.find(job_id);
    if (it == active_.end()) return false;
    auto job = it->second.job.lock();
    if (!job) return false;
    log_->info("Turn {} cancelled from the dashboard", job_id);
    job->cancel(errc::cancelled_by_admin);
    ++version_;
    return true;
}

} // namespace ksid::daemon
