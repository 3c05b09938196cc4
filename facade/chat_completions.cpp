#include "facade/chat_completions.hpp"

#include "daemon/core/ids.hpp"
#include "daemon/core/lifecycle.hpp"
#include "daemon/services/turn_service.hpp"
#include "facade/chat_request.hpp"
#include "facade/http_errors.hpp"
#include "protocol/openai_chat.hpp"
#include "protocol/openai_upstream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

namespace ksid::facade {

namespace asio = boost::asio;
namespace json = boost::json;
using daemon::errc;

namespace {

// One chat turn while it runs, shared with the callbacks that feed it.
struct ChatTurn {
    explicit ChatTurn(asio::any_io_executor ex) : wake(ex) {}
    std::vector<daemon::TurnEvent> events; // what a stream has not sent yet
    std::size_t consumed = 0;
    std::size_t unsent_bytes = 0; // about what `events` holds
    bool fell_behind = false;     // unsent_bytes passed the bound: the turn is cancelled, the stream cut
    std::optional<daemon::TurnOutcome> outcome;
    bool client_gone = false;
    daemon::AsyncSignal wake;
    std::function<void()> drop_client; // set while a stream is being written
};

// Lets the turn's callbacks drop a stream's client (even while a write to it waits) as long as the
// exchange exists.
struct ClientDropper {
    ClientDropper(ChatTurn& turn, HttpExchange& x) : t(turn) {
        t.drop_client = [&x] { x.abort(); };
    }
    ~ClientDropper() { t.drop_client = nullptr; }
    ClientDropper(const ClientDropper&) = delete;
    ClientDropper& operator=(const ClientDropper&) = delete;
    ChatTurn& t;
};

// A stream sends the turn's start and its text; other events (and text already sent as deltas) are not
// kept. Their size in memory, for the bound on what waits for a slow client.
std::optional<std::size_t> kept_size(const daemon::TurnEvent& e) {
    if (std::holds_alternative<daemon::TurnStarted>(e)) return sizeof e;
    if (const auto* d = std::get_if<daemon::TextDelta>(&e)) return sizeof e + d->text.size();
    if (const auto* m = std::get_if<daemon::AssistantText>(&e); m && !m->already_streamed)
        return sizeof e + m->text.size();
    return std::nullopt;
}

ChatPolicy policy_of(const FacadeContext& c) {
    ChatPolicy p;
    p.instance_id = daemon::instance_id();
    p.tools_allowed = c.settings().enable_tools;
    p.stopping = c.deps.turns.stopping();
    p.model_problem = [&turns = c.deps.turns](std::string_view model) { return turns.model_problem(model); };
    return p;
}

long long unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

HttpResponse turn_error_response(const daemon::TurnOutcome& o) {
    return error_response(openai_error_for(o.error, {o.detail, o.upstream_status, o.started}));
}

HttpResponse sent(int status, bool close) {
    HttpResponse r;
    r.status = status;
    r.sent = true;
    r.close = close;
    return r;
}

// The answer as one completion.
HttpResponse completion_response(const ChatPlan& plan, const std::string& job_id, const daemon::TurnAnswer& a,
                                 long long created) {
    const std::string session = a.session_id.value_or("");
    auto body = protocol::chat_completion_body(session.empty() ? "chatcmpl-" + job_id : session, created,
                                               plan.chat.model, a.text,
                                               protocol::finish_reason_for(a.stop_reason), a.usage);
    if (!plan.turn.hops.empty())
        body["ksid_result"] = a.cli_result; // another ksid's API shim: its exact result
    HttpResponse res;
    res.body = json::serialize(body);
    if (!session.empty()) res.set("X-Session-Id", session);
    return res;
}

// The text of the events not yet sent, as SSE chunks.
std::string pending_text_chunks(ChatTurn& t, const std::string& id, long long created,
                                const std::string& model) {
    std::string batch;
    for (; t.consumed < t.events.size(); ++t.consumed) {
        const std::string* text = nullptr;
        if (const auto* d = std::get_if<daemon::TextDelta>(&t.events[t.consumed])) text = &d->text;
        if (const auto* m = std::get_if<daemon::AssistantText>(&t.events[t.consumed]);
            m && !m->already_streamed)
            text = &m->text;
        if (text) {
            const json::object delta{{"content", *text}};
            batch += protocol::sse_event(protocol::chat_chunk_body(id, created, model, delta, std::nullopt));
        }
    }
    t.events.clear(); // sent: a long answer does not accumulate
    t.consumed = 0;
    t.unsent_bytes = 0;
    return batch;
}

// The SSE response: headers once the turn has started (its session id is the completion id), then text
// chunks as they arrive (a keep-alive comment when idle), then the finish chunk, usage and [DONE].
asio::awaitable<HttpResponse> stream_response(FacadeContext& c, HttpExchange& x, const ChatPlan& plan,
                                              const std::shared_ptr<daemon::Job>& job,
                                              const std::shared_ptr<ChatTurn>& t, long long created) {
    std::optional<std::string> session;
    for (;;) {
        for (; t->consumed < t->events.size() && !session; ++t->consumed)
            if (const auto* s = std::get_if<daemon::TurnStarted>(&t->events[t->consumed]))
                session = s->session_id.value_or("");
        if (session || t->outcome || t->client_gone || t->fell_behind) break;
        co_await t->wake.wait();
    }
    if (t->client_gone || t->fell_behind) co_return sent(499, true);
    if (!session) { // ended before it started: a plain error response
        auto res = t->outcome->ok() ? error_response(openai_error_for(errc::no_result))
                                    : turn_error_response(*t->outcome);
        res.close = true;
        co_return res;
    }
    const std::string id = session->empty() ? "chatcmpl-" + job->id() : *session;
    HttpResponse head;
    head.content_type = "text/event-stream";
    head.set("Cache-Control", "no-cache");
    head.set("X-Accel-Buffering", "no");
    if (!session->empty()) head.set("X-Session-Id", *session);
    bool ok = co_await x.start_stream(std::move(head));
    // (Chunks are built before each co_await: GCC 12 mishandles temporaries in co_await expressions.)
    auto write = [&](std::string& data) -> asio::awaitable<void> {
        if (ok) ok = co_await x.write_chunk(std::move(data));
        if (!ok) job->cancel(); // the client is gone: stop its run
    };
    const json::object role{{"role", "assistant"}, {"content", ""}};
    std::string chunk =
        protocol::sse_event(protocol::chat_chunk_body(id, created, plan.chat.model, role, std::nullopt));
    co_await write(chunk);
    asio::steady_timer keepalive(co_await asio::this_coro::executor);
    while (ok) {
        chunk = pending_text_chunks(*t, id, created, plan.chat.model);
        if (!chunk.empty()) co_await write(chunk);
        if (!ok || t->outcome || t->fell_behind) break;
        using namespace asio::experimental::awaitable_operators;
        keepalive.expires_after(
            std::chrono::duration_cast<std::chrono::milliseconds>(c.settings().keepalive_interval));
        auto woke = co_await (t->wake.wait() || keepalive.async_wait(asio::as_tuple(asio::use_awaitable)));
        if (woke.index() == 1 && !t->outcome && t->consumed == t->events.size()) {
            chunk = protocol::sse_keepalive;
            co_await write(chunk);
        }
    }
    if (t->fell_behind)
        c.deps.log->warn("HTTP {}: the client fell more than {} bytes behind the stream; cut off",
                         x.request_id(), c.deps.config.daemon.max_outbox_bytes);
    if (!ok || t->client_gone || t->fell_behind) co_return sent(200, true);
    const daemon::TurnOutcome& o = *t->outcome;
    if (!o.ok()) { // after the headers an error is an event, then the stream ends
        const auto error = openai_error_for(o.error, {o.detail, o.upstream_status, o.started});
        chunk = protocol::sse_event(protocol::openai_error_body(error)) + std::string(protocol::sse_done);
        co_await write(chunk);
        if (ok) co_await x.end_stream();
        co_return sent(200, true);
    }
    const daemon::TurnAnswer& a = *o.answer;
    json::object finish = protocol::chat_chunk_body(id, created, plan.chat.model, {},
                                                    protocol::finish_reason_for(a.stop_reason));
    if (!plan.turn.hops.empty()) finish["ksid_result"] = a.cli_result; // another ksid's API shim
    chunk = protocol::sse_event(finish);
    if (plan.chat.include_usage)
        chunk += protocol::sse_event(protocol::chat_usage_chunk_body(id, created, plan.chat.model, a.usage));
    chunk += protocol::sse_done;
    co_await write(chunk);
    if (ok) ok = co_await x.end_stream();
    co_return sent(200, !ok);
}

} // namespace

asio::awaitable<HttpResponse> chat_completions_endpoint(FacadeContext& c, HttpExchange& x) {
    const std::string hops(x.header(protocol::hop_header));
    const ChatHttpRequest request{x.body(), x.header("X-Session-Id"), hops, x.request_id()};
    auto plan = plan_chat_turn(request, policy_of(c));
    if (!plan) co_return error_response(plan.error());

    auto executor = co_await asio::this_coro::executor;
    auto t = std::make_shared<ChatTurn>(executor);
    // A whole completion's answer is in the outcome: only a stream keeps events. What waits for a client
    // that reads slower than the turn writes is bounded by daemon.max_outbox_bytes; past it the turn is
    // cancelled and the client dropped (posted: not from inside the backend's callback).
    auto job_of_turn = std::make_shared<std::weak_ptr<daemon::Job>>();
    auto keep_event = [t, job_of_turn, executor, stream = plan->chat.stream,
                       bound = c.deps.config.daemon.max_outbox_bytes](const daemon::TurnEvent& e) {
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
        } else {
            t->events.push_back(e);
        }
        t->wake.notify();
    };
    auto submitted = c.deps.turns.submit(plan->turn, std::move(keep_event));
    if (!submitted) {
        c.deps.log->warn("HTTP {}: turn refused: {}", x.request_id(), submitted.error().message());
        co_return error_response(openai_error_for(submitted.error()));
    }
    std::shared_ptr<daemon::Job> job = *submitted;
    *job_of_turn = job;
    x.set_job_id(job->id());
    daemon::TurnService& turns = c.deps.turns;
    const daemon::TurnLogging logging{daemon::TurnLogging::Mode::exchange,
                                      plan->chat.agent_id ? json::value(*plan->chat.agent_id)
                                                          : json::value(nullptr)};
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

    const long long created = unix_now();
    if (plan->chat.stream) {
        const ClientDropper dropper(*t, x);
        HttpResponse streamed = co_await stream_response(c, x, *plan, job, t, created);
        co_return streamed;
    }
    while (!t->outcome)
        co_await t->wake.wait();
    if (t->client_gone) co_return sent(499, true);
    if (!t->outcome->ok()) co_return turn_error_response(*t->outcome);
    co_return completion_response(*plan, job->id(), *t->outcome->answer, created);
}

} // namespace ksid::facade
