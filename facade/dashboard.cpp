#include "facade/dashboard.hpp"

#include "daemon/backends/warm/warm_pool.hpp"
#include "daemon/services/turn_service.hpp"
#include "daemon/services/usage_governor.hpp"
#include "facade/admin_endpoints.hpp"
#include "facade/auth.hpp"
#include "facade/http_errors.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <set>
#include <unistd.h>

namespace ksid::facade {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

double seconds_since(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::system_clock::now() - t).count();
}

} // namespace

std::optional<HttpResponse> dashboard_sign_in(FacadeContext& c, HttpExchange& x) {
    bool found = false;
    const std::string key = query_parameter(x.query(), "key", &found);
    if (!found) return std::nullopt;
    Caller caller;
    PresentedCredentials presented;
    const std::string authorization = "Bearer " + key; // checked as if sent in the header
    presented.authorization = authorization;
    presented.method = "GET";
    presented.admin_route = true;
    if (auto denied = identify(c.deps.usage, c.api_keys, presented, caller)) return error_response(*denied);
    HttpResponse res;
    res.status = 303;
    res.content_type = "text/plain; charset=utf-8";
    res.body = "Signed in; see /dashboard\n";
    res.set("Location", "/dashboard");
    res.set("Cache-Control", "no-store");
    // The key itself, kept by the browser for this server only and never readable by a script.
    res.set("Set-Cookie", std::string(admin_cookie) + "=" + key + "; Path=/; HttpOnly; SameSite=Strict");
    return res;
}

HttpResponse dashboard_endpoint(FacadeContext&) {
    HttpResponse res;
    res.content_type = "text/html; charset=utf-8";
    res.body = dashboard_page_html;
    res.set("Cache-Control", "no-store");
    res.set("X-Frame-Options", "DENY"); // no other page may frame the Cancel buttons
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src 'self' data:; frame-ancestors 'none'");
    return res;
}

json::object dashboard_snapshot(FacadeContext& c) {
    const double now = protocol::unix_time_now();
    const auto q = c.deps.turns.queue_stats();
    json::object snap{
        {"time", now},
        {"daemon",
         json::object{
             {"pid", static_cast<long long>(::getpid())},
             {"version", KSID_VERSION},
             {"uptime_s",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started_at).count()},
             {"backend", daemon::turn_backend_name(c.deps.config)}}},
        {"queue", json::object{{"running", q.running},
                               {"pending", q.pending},
                               {"max_concurrent", q.max_concurrent},
                               {"max_pending", q.max_pending}}},
    };
    json::array turns;
    json::array subscription;
    json::array errors;
    json::object usage{{"keys", json::array{}}, {"series", json::object{}}};
    if (auto* g = c.deps.usage) {
        std::vector<std::pair<double, json::object>> listed;
        for (const auto& [id, t] : g->active()) {
            auto job = t.job.lock();
            if (!job || job->state() == daemon::Job::State::done) continue;
            const double age = seconds_since(job->submitted_at());
            listed.emplace_back(
                age,
                json::object{{"id", id},
                             {"state", job->state() == daemon::Job::State::running ? "running" : "queued"},
                             {"key", t.tenant.empty() ? "open" : t.tenant},
                             {"model", t.model},
                             {"origin", t.origin},
                             {"transport", t.transport},
                             {"age_s", age},
                             {"request_id", t.request_id}});
        }
        std::sort(listed.begin(), listed.end(),
                  [](const auto& a, const auto& b) { return a.first > b.first; });
        for (auto& [age, o] : listed)
            turns.push_back(std::move(o));
        subscription = g->subscription_json();
        for (const auto& e : g->errors())
            errors.push_back(json::object{{"time", e.time},
                                          {"request_id", e.request_id},
                                          {"job", e.job},
                                          {"key", e.tenant},
                                          {"status", e.status},
                                          {"message", e.message}});
        json::array keys;
        for (const auto& name : g->tenant_names())
            keys.push_back(g->tenant_usage_json(name));
        usage = json::object{{"keys", std::move(keys)}, {"series", g->series_json(now)}};
    }
    snap["turns"] = std::move(turns);
    if (c.deps.pool) {
        json::array processes;
        for (const auto& p : c.deps.pool->processes())
            processes.push_back(
                json::object{{"pid", static_cast<long long>(p.pid)},
                             {"state", p.state},
                             {"model", p.model},
                             {"session", p.session ? json::value(*p.session) : json::value(nullptr)},
                             {"turns", p.turns},
                             {"rss_bytes", p.rss_bytes}});
        snap["warm"] = json::object{{"processes", std::move(processes)}};
    } else {
        snap["warm"] = nullptr;
    }
    if (c.deps.daemon_state) {
        auto state = c.deps.daemon_state();
        snap["agents"] = state.contains("agents") ? state["agents"] : json::array{};
        snap["bus"] = state.contains("bus") ? state["bus"] : json::object{};
    } else {
        snap["agents"] = json::array{};
        snap["bus"] = json::object{};
    }
    snap["subscription"] = std::move(subscription);
    snap["usage"] = std::move(usage);
    snap["errors"] = std::move(errors);
    return snap;
}

HttpResponse admin_state_endpoint(FacadeContext& c) {
    HttpResponse res;
    res.body = json::serialize(dashboard_snapshot(c));
    res.set("Cache-Control", "no-store");
    return res;
}

asio::awaitable<HttpResponse> admin_events_endpoint(FacadeContext& c, HttpExchange& x) {
    HttpResponse head;
    head.content_type = "text/event-stream";
    head.set("Cache-Control", "no-store");
    head.set("X-Accel-Buffering", "no");
    bool ok = co_await x.start_stream(std::move(head));
    // A snapshot at once, then whenever a turn starts or ends (looked at every 100 ms), and every second.
    asio::steady_timer timer(co_await asio::this_coro::executor);
    using Clock = std::chrono::steady_clock;
    auto sent_at = Clock::now();
    std::uint64_t sent_version = 0;
    bool first = true;
    while (ok && !c.stopping) {
        const std::uint64_t version = c.deps.usage ? c.deps.usage->version() : 0;
        if (first || version != sent_version || Clock::now() - sent_at >= std::chrono::seconds(1)) {
            std::string chunk = "event: snapshot\ndata: " + json::serialize(dashboard_snapshot(c)) + "\n\n";
            ok = co_await x.write_chunk(std::move(chunk));
            if (!ok) break;
            first = false;
            sent_version = version;
            sent_at = Clock::now();
        }
        timer.expires_after(std::chrono::milliseconds(100));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (ok) co_await x.end_stream();
    HttpResponse done;
    done.sent = true;
    done.close = true;
    co_return done;
}

} // namespace ksid::facade
