#include "daemon/backends/upstream/upstream_backend.hpp"

#include "daemon/backends/turn_events_from_cli.hpp"
#include "daemon/core/ids.hpp"
#include "protocol/timestamp.hpp"
#include "protocol/upstream_format.hpp"
#include "protocol/upstream_retry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <random>

namespace ksid::daemon {

using asio::as_tuple;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using Outcome = UpstreamReply::Outcome;

struct UpstreamBackend::CallResult {
    TurnOutcome outcome;
    bool unreachable = false; // nothing answered: the fallback may run it
};

namespace {

// An upstream header value, absent when empty.
std::optional<std::string> present(const std::string& value) {
    return value.empty() ? std::nullopt : std::optional<std::string>(value);
}

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

TurnOutcome failure(errc e, std::string detail, int upstream_status = 0) {
    auto o = TurnOutcome::failure(e, std::move(detail));
    o.upstream_status = upstream_status;
    return o;
}

double jitter() {
    static std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.5, 1.0)(rng);
}

} // namespace

UpstreamBackend::UpstreamBackend(asio::any_io_executor executor, const config::ApiShimSettings& settings,
                                 std::size_t max_output_bytes, TurnBackend* fallback,
                                 std::shared_ptr<spdlog::logger> log)
    : executor_(executor), settings_(settings), max_output_bytes_(max_output_bytes), fallback_(fallback),
      log_(std::move(log)) {}

std::optional<std::string> UpstreamBackend::init() {
    auto base = protocol::parse_upstream_base(settings_.base_url);
    if (!base) return "api_shim.base_url: " + base.error();
    client_ = std::make_unique<UpstreamClient>(executor_, *base, settings_.ca_file,
                                               config::to_ms(settings_.connect_timeout), log_);
    return client_->init();
}

asio::awaitable<bool> UpstreamBackend::sleep(std::chrono::milliseconds delay, CancellationToken& cancel) {
    if (cancel.cancelled()) co_return false;
    asio::steady_timer timer(executor_, delay);
    const CancelHandlerScope on_cancel(cancel, [&timer] { timer.cancel(); });
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    co_return !cancel.cancelled();
}

asio::awaitable<TurnOutcome> UpstreamBackend::run(const TurnRequest& request, const TurnEventSink& events,
                                                  std::shared_ptr<CancellationToken> cancel) {
    ++stats_.calls;
    CallResult r = co_await call(request, events, *cancel);
    if (r.outcome.ok()) ++stats_.completed;
    if (!r.unreachable || !settings_.fallback_to_direct || !fallback_ || cancel->cancelled())
        co_return std::move(r.outcome);

    ++stats_.fallbacks;
    log_->warn("API shim: {}; falling back to running claude directly (api_shim.fallback_to_direct)",
               r.outcome.detail);
    TurnOutcome direct = co_await fallback_->run(request, events, cancel);
    if (is(direct.error, errc::claude_not_found) || is(direct.error, errc::spawn_failed)) {
        r.outcome.detail += "; the fallback to direct spawn failed too: claude " +
                            std::string(is(direct.error, errc::claude_not_found) ? "is not installed"
                                                                                 : "could not be started");
        co_return std::move(r.outcome);
    }
    co_return direct;
}

asio::awaitable<UpstreamBackend::CallResult>
UpstreamBackend::call(const TurnRequest& request, const TurnEventSink& events, CancellationToken& cancel) {
    const auto started = Clock::now();
    const auto deadline = started + config::to_ms(settings_.timeout);
    const bool want_events = request.output == TurnOutput::events;
    const bool stream = want_events && request.incremental; // else one non-streaming call
    const auto mapped = settings_.model_map.find(request.model);
    const std::string upstream_model = mapped == settings_.model_map.end() ? request.model : mapped->second;

    protocol::UpstreamTurn turn;
    turn.model = upstream_model;
    turn.prompt = request.prompt;
    turn.system_prompt = request.append_system_prompt;
    if (request.resume_session) turn.session_id = *request.resume_session;
    if (request.agent_id) turn.agent_id = *request.agent_id;
    turn.enable_tools = request.enable_tools;
    turn.priority = request.priority;
    turn.stream = stream;
    turn.send_metadata = settings_.send_metadata;
    turn.max_tokens = settings_.max_tokens;

    // The provider's wire format decides the target, its own headers and the body; the rest is shared.
    auto wire = protocol::upstream_request(settings_.provider, client_->base().path, turn, settings_.api_key);
    UpstreamExchange x;
    x.target = std::move(wire.target);
    x.body = std::move(wire.body);
    x.headers = std::move(wire.headers);
    x.event_stream = stream;
    x.deadline = deadline;
    x.max_body_bytes = max_output_bytes_;
    x.headers.emplace_back(std::string(protocol::hop_header),
                           request.hops.empty() ? instance_id() : request.hops + "," + instance_id());
    if (request.resume_session && settings_.send_metadata)
        x.headers.emplace_back("X-Session-Id", *request.resume_session);
    const protocol::ShimFields fields{request.model, protocol::legacy_timestamp_now(), request.agent_id};
    const protocol::RetryPolicy policy{settings_.retry_attempts, settings_.retry_backoff.count(), 30};

    auto failed = [&](std::string kind, TurnOutcome o, bool unreachable = false) {
        ++stats_.failures[kind];
        log_->warn("API shim: upstream call failed ({}): {}", kind, o.detail);
        return CallResult{std::move(o), unreachable};
    };
    auto answered = [&](boost::json::object result) {
        TurnOutcome o;
        o.answer = answer_from_cli_result(std::move(result));
        return CallResult{std::move(o)};
    };

    for (unsigned attempt = 0;; ++attempt) {
        std::unique_ptr<protocol::StreamTranslator> translator;
        std::vector<protocol::StreamEvent> parsed;
        auto deliver = [&] {
            for (const auto& e : parsed)
                if (auto event = turn_event_from_cli(e); event && events) events(*event);
            parsed.clear();
        };
        auto start_translation = [&](const UpstreamReply& head) {
            translator = protocol::upstream_stream_translator(settings_.provider, present(head.session_id),
                                                              fields, max_output_bytes_);
            parsed.push_back(translator->init_event());
            deliver();
        };
        if (stream)
            x.on_success_body = [&](const UpstreamReply& head, std::string_view bytes) {
                if (!translator) start_translation(head);
                if (translator->output_bytes() > max_output_bytes_) return; // reported below
                translator->feed(bytes, parsed);
                deliver();
            };
        UpstreamReply reply = co_await client_->exchange(x, cancel);
        if (translator && translator->output_bytes() > max_output_bytes_)
            co_return failed("too_large", failure(errc::upstream_too_large,
                                                  "the upstream's answer exceeded the output limit"));

        switch (reply.outcome) {
        case Outcome::response:
        case Outcome::connect_failed:
            break;
        case Outcome::cancelled:
            co_return CallResult{failure(cancel.reason(), "cancelled")};
        case Outcome::timed_out:
            co_return failed("timeout", failure(errc::upstream_timed_out,
                                                "the upstream did not answer within api_shim.timeout"));
        case Outcome::too_large:
            co_return failed("too_large", failure(errc::upstream_too_large,
                                                  "the upstream's response exceeded the output limit"));
        case Outcome::tls_failed:
            co_return failed("tls", failure(errc::upstream_failed, reply.detail));
        case Outcome::failed_after_send:
            co_return failed(
                "after_send",
                failure(errc::upstream_failed, reply.detail + " (not retried: the request may have run)"));
        }

        if (reply.outcome == Outcome::response && reply.status == 200) {
            if (stream) {
                if (!translator) start_translation(reply); // a 200 with no body at all
                auto last = translator->finish(elapsed_ms(started));
                if (!last)
                    co_return failed("invalid_response", failure(errc::upstream_failed, last.error(), 200));
                co_return answered(std::move(*last));
            }
            auto object = protocol::cli_result_from_upstream(
                settings_.provider, reply.body, present(reply.session_id), fields, elapsed_ms(started));
            if (!object)
                co_return failed("invalid_response", failure(errc::upstream_failed, object.error(), 200));
            CallResult done = answered(std::move(*object));
            if (want_events && events) // the whole answer at once: the turn starts, then it ends
                events(TurnStarted{done.outcome.answer->session_id, request.model});
            co_return done;
        }

        // A failure: retried only where the upstream provably did nothing; reported otherwise.
        const bool connect_failed = reply.outcome == Outcome::connect_failed;
        std::string kind, reason;
        TurnOutcome give_up;
        if (connect_failed) {
            kind = "connect";
            reason = reply.detail;
            give_up = failure(errc::upstream_failed, reply.detail);
        } else {
            const std::string message = protocol::upstream_error_message(reply.body);
            kind = "http_" + std::to_string(reply.status);
            reason = "the upstream answered " + std::to_string(reply.status) + " (" + message + ")";
            give_up = failure(errc::upstream_failed,
                              "the upstream answered " + std::to_string(reply.status) + ": " + message,
                              reply.status);
        }
        const protocol::UpstreamAttempt tried{connect_failed, reply.status, reply.body_started,
                                              reply.retry_after, reply.retry_after_ms};
        const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        const auto delay = protocol::upstream_retry_delay(policy, tried, attempt, jitter(),
                                                          std::chrono::system_clock::now(), remaining);
        if (!delay) co_return failed(kind, std::move(give_up), connect_failed);
        ++stats_.retries;
        log_->info("API shim: {}; retry {} of {} in {} ms", reason, attempt + 1, settings_.retry_attempts,
                   delay->count());
        if (!co_await sleep(*delay, cancel)) co_return CallResult{failure(cancel.reason(), "cancelled")};
    }
}

} // namespace ksid::daemon
