#include "facade/http_turn.hpp"

#include "daemon/core/lifecycle.hpp"
#include "daemon/services/turn_service.hpp"
#include "protocol/rate_limit_headers.hpp"
#include "facade/http_errors.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ksid::facade {

namespace asio = boost::asio;
namespace json = boost::json;
using daemon::errc;

namespace {

// One turn while it runs, shared with the callbacks that feed it.
struct RunningTurn {
    explicit RunningTurn(asio::any_io_executor ex) : wake(ex) {}
    std::vector<daemon::TurnEvent> events; // what a stream has not sent yet
    std::size_t consumed = 0;
    std::size_t unsent_bytes = 0; // about what `events` holds
    bool fell_behind = false;     // unsent_bytes passed the bound: the turn is cancelled, the stream cut
    std::optional<daemon::TurnOutcome> outcome;
    bool client_gone = false;
    bool subscription_rejected = false; // the CLI said the subscription's limit rejects this turn
    daemon::AsyncSignal wake;
    std::function<void()> drop_client; // set while a stream is being written
};

// Lets the turn's callbacks drop a stream's client (even while a write to it waits) as long as the
// exchange exists.
struct ClientDropper {
    ClientDropper(RunningTurn& turn, HttpExchange& x) : t(turn) {
        t.drop_client = [&x] { x.abort(); };
    }
    ~ClientDropper() { t.drop_client = nullptr; }
    ClientDropper(const ClientDropper&) = delete;
    ClientDropper& operator=(const ClientDropper&) = delete;
    RunningTurn& t;
};

// A stream sends the turn's start and its text; other events (and text already sent as deltas) are
// kept at their own size only. Their size in memory, for the bound on what waits for a slow client;
// nullopt for events no dialect sends.
std::optional<std::size_t> kept_size(const daemon::TurnEvent& e) {
    if (std::holds_alternative<daemon::TurnStarted>(e)) return sizeof e;
    if (const auto* d = std::get_if<daemon::TextDelta>(&e)) return sizeof e + d->text.size();
    if (const auto* m = std::get_if<daemon::AssistantText>(&e))
        return sizeof e + (m->already_streamed ? 0 : m->text.size());
    return std::nullopt;
}

HttpResponse sent(int status, bool close) {
    HttpResponse r;
    r.status = status;
    r.sent = true;
    r.close = close;
    return r;
}

// The events not yet sent, in the dialect's bytes.
std::string pending_chunks(RunningTurn& t, TurnResponder& responder) {
    std::string batch;
    for (; t.consumed < t.events.size(); ++t.consumed)
        batch += responder.stream_event(t.events[t.consumed]);
    t.events.clear(); // sent: a long answer does not accumulate
    t.consumed = 0;
    t.unsent_bytes = 0;
    return batch;
}

// The SSE response: headers once the turn has started (its session id is known), then the events as they
// arrive (a keep-alive when idle), then the end of the answer or the error.
asio::awaitable<HttpResponse> stream_response(FacadeContext& c, HttpExchange& x,
                                              const std::shared_ptr<daemon::Job>& job,
                                              const std::shared_ptr<RunningTurn>& t,
                                              TurnResponder& responder) {
    // The head goes out with the turn's first content (its session id known by then), so that a turn the
    // Claude subscription's limit rejects before it says anything is a plain 429, not a 200 stream.
    std::optional<std::string> session;
    for (;;) {
        for (; t->consumed < t->events.size() && !session; ++t->consumed)
            if (const auto* s = std::get_if<daemon::TurnStarted>(&t->events[t->consumed]))
                session = s->session_id.value_or("");
        bool content = false;
        for (std::size_t i = t->consumed; i < t->events.size() && !content; ++i)
            content = !std::holds_alternative<daemon::TurnStarted>(t->events[i]);
        if ((session && content && !t->subscription_rejected) || t->outcome || t->client_gone || t->fell_behind)
            break;
        co_await t->wake.wait();
    }
    if (t->client_gone || t->fell_behind) co_return sent(499, true);
    if (!session || (t->subscription_rejected && !t->outcome->ok())) { // ended before it said anything
        auto res =
            responder.error(t->outcome->ok() ? openai_error_for(errc::no_result) : turn_error(*t->outcome));
        set_retry_after(res, t->outcome->retry_after_ms);
        res.close = true;
        co_return res;
    }
    HttpResponse head;
    head.content_type = "text/event-stream";
    head.set("Cache-Control", "no-cache");
    head.set("X-Accel-Buffering", "no");
    if (!session->empty()) head.set("X-Session-Id", *session);
    if (job->replayed_session()) head.set("X-Ksid-Session-Replayed", *job->replayed_session());
    responder.stream_headers(head);
    bool ok = co_await x.start_stream(std::move(head));
    // (Chunks are built before each co_await: GCC 12 mishandles temporaries in co_await expressions.)
    auto write = [&](std::string& data) -> asio::awaitable<void> {
        if (ok && !data.empty()) ok = co_await x.write_chunk(std::move(data));
        if (!ok) job->cancel(); // the client is gone: stop its run
    };
    std::string chunk = responder.stream_start(job->id(), *session);
    co_await write(chunk);
    asio::steady_timer keepalive(co_await asio::this_coro::executor);
    while (ok) {
        chunk = pending_chunks(*t, responder);
        co_await write(chunk);
        if (!ok || t->outcome || t->fell_behind) break;
        using namespace asio::experimental::awaitable_operators;
        keepalive.expires_after(
            std::chrono::duration_cast<std::chrono::milliseconds>(c.settings().keepalive_interval));
        auto woke = co_await (t->wake.wait() || keepalive.async_wait(asio::as_tuple(asio::use_awaitable)));
        if (woke.index() == 1 && !t->outcome && t->consumed == t->events.size()) {
            chunk = responder.stream_keepalive();
            co_await write(chunk);
        }
    }
    if (t->fell_behind)
        c.deps.log->warn("HTTP {}: the client fell more than {} bytes behind the stream; cut off",
                         x.request_id(), c.deps.config.daemon.max_outbox_bytes);
    if (!ok || t->client_gone || t->fell_behind) co_return sent(200, true);
    const daemon::TurnOutcome& o = *t->outcome;
    if (!o.ok()) { // after the headers an error is an event, then the stream ends
        chunk = responder.stream_error(turn_error(o));
        co_await write(chunk);
        if (ok) co_await x.end_stream();
        co_return sent(200, true);
    }
    chunk = responder.stream_finish(*o.answer);
    co_await write(chunk);
    if (ok) ok = co_await x.end_stream();
    co_return sent(200, !ok);
}

} // namespace

protocol::OpenAIError turn_error(const daemon::TurnOutcome& o) {
    return openai_error_for(o.error, {o.detail, o.upstream_status, o.started});
}

asio::awaitable<HttpResponse> serve_turn(FacadeContext& c, HttpExchange& x, HttpTurn turn,
                                         TurnResponder& responder) {
    auto executor = co_await asio::this_coro::executor;
    auto t = std::make_shared<RunningTurn>(executor);
    // A whole response's answer is in the outcome: only a stream keeps events. What waits for a client
    // that reads slower than the turn writes is bounded by daemon.max_outbox_bytes; past it the turn is
    // cancelled and the client dropped (posted: not from inside the backend's callback).
    auto job_of_turn = std::make_shared<std::weak_ptr<daemon::Job>>();
    auto keep_event = [t, job_of_turn, executor, stream = turn.stream,
                       bound = c.deps.config.daemon.max_outbox_bytes](const daemon::TurnEvent& e) {
        if (const auto* n = std::get_if<daemon::RateLimitNotice>(&e)) {
            if (const auto* st = n->info.if_contains("status"); st && st->is_string() && st->get_string() == "rejected") {
                t->subscription_rejected = true;
                t->wake.notify();
            }
        }
        const auto size = kept_size(e);
        if (!stream || !size || t->fell_behind) return;
        t->unsent_bytes += *size;
        if (t->unsent_bytes > bound) {
            t->fell_behind = true;
            t->events = {};
            t->consumed = 0;
            asio::post(executor, [t, job_of_turn] {
                if (auto job = job_of_turn->lock()) job->cancel();
                if (t->drop_client) t->drop_client();
            });
        } else if (const auto* m = std::get_if<daemon::AssistantText>(&e); m && m->already_streamed) {
            t->events.push_back(
                daemon::AssistantText{{}, true}); // only where a message ended: its text was sent
        } else {
            t->events.push_back(e);
        }
        t->wake.notify();
    };
    const bool anthropic = x.path() == "/v1/messages";
    turn.request.tenant = x.tenant();
    turn.request.request_id = x.request_id();
    turn.request.transport = anthropic ? "anthropic" : "openai";
    // The tenant's windows go on every answer, refused or not (x-ratelimit-*, anthropic-ratelimit-*).
    auto rate_headers = [&](const protocol::RateLimitReport& report) {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        x.extra_headers = anthropic ? protocol::anthropic_rate_limit_headers(report, now)
                                    : protocol::openai_rate_limit_headers(report);
    };
    daemon::LimitRefusal refusal;
    auto queued = c.deps.turns.enqueue(std::move(turn.request), std::move(keep_event), &refusal);
    auto submitted = co_await std::move(queued); // built before the co_await (GCC 12)
    if (!submitted) {
        c.deps.log->warn("HTTP {}: turn refused: {}", x.request_id(),
                         refusal.message.empty() ? submitted.error().message() : refusal.message);
        if (!refusal.message.empty()) rate_headers(refusal.report);
        auto res = responder.error(openai_error_for(submitted.error(), {refusal.message, 0, false}));
        set_retry_after(res, refusal.retry_after_ms);
        co_return res;
    }
    if (c.deps.usage && !x.tenant().empty()) rate_headers(c.deps.usage->report(x.tenant()));
    std::shared_ptr<daemon::Job> job = *submitted;
    *job_of_turn = job;
    x.set_job_id(job->id());
    daemon::TurnService& turns = c.deps.turns;
    const daemon::TurnLogging logging{daemon::TurnLogging::Mode::exchange,
                                      turn.agent_id ? json::value(*turn.agent_id) : json::value(nullptr)};
    asio::co_spawn(
        executor,
        [t, job, &turns, logging]() -> asio::awaitable<void> {
            auto outcome = co_await turns.finish(job, logging);
            t->outcome = std::move(outcome);
            t->wake.notify();
        },
        asio::detached);
    x.on_client_gone([t, job] {
        t->client_gone = true;
        job->cancel();
        t->wake.notify();
    });

    if (turn.stream) {
        const ClientDropper dropper(*t, x);
        HttpResponse streamed = co_await stream_response(c, x, job, t, responder);
        co_return streamed;
    }
    while (!t->outcome)
        co_await t->wake.wait();
    if (t->client_gone) co_return sent(499, true);
    if (!t->outcome->ok()) {
        auto res = responder.error(turn_error(*t->outcome));
        set_retry_after(res, t->outcome->retry_after_ms);
        co_return res;
    }
    auto answered = responder.answer(job->id(), *t->outcome->answer);
    // The session lived on a worker that is gone: the conversation was replayed in a new session.
    if (const auto& replayed = t->outcome->replayed_session ? t->outcome->replayed_session : job->replayed_session())
        answered.set("X-Ksid-Session-Replayed", *replayed);
    co_return answered;
}

} // namespace ksid::facade
