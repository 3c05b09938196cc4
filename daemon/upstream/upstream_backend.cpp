#include "daemon/upstream/upstream_backend.hpp"

#include "daemon/ids.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <random>

namespace ksid::daemon {

using asio::as_tuple;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using Outcome = UpstreamReply::Outcome;
using Status = TurnResult::Status;

struct UpstreamBackend::CallResult {
    TurnResult result;
    bool unreachable = false; // nothing answered: the fallback may run it
};

namespace {

std::chrono::milliseconds to_ms(config::Seconds s) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

// An upstream header value, absent when empty.
std::optional<std::string> present(const std::string& value) {
    return value.empty() ? std::nullopt : std::optional<std::string>(value);
}

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

TurnResult failure(Status status, std::string detail, int upstream_status = 0) {
    TurnResult r;
    r.status = status;
    r.detail = std::move(detail);
    r.upstream_status = upstream_status;
    r.from_upstream = true;
    r.returncode = -1;
    return r;
}

} // namespace

UpstreamBackend::UpstreamBackend(asio::any_io_executor executor, const config::ApiShimSettings& settings,
                                 std::size_t max_output_bytes, ClaudeBackend* fallback,
                                 std::shared_ptr<spdlog::logger> log)
    : executor_(executor), settings_(settings), max_output_bytes_(max_output_bytes), fallback_(fallback),
      log_(std::move(log)) {}

std::optional<std::string> UpstreamBackend::init() {
    auto base = protocol::parse_upstream_base(settings_.base_url);
    if (!base) return "api_shim.base_url: " + base.error();
    client_ = std::make_unique<UpstreamClient>(executor_, *base, settings_.ca_file,
                                               to_ms(settings_.connect_timeout), log_);
    return client_->init();
}

std::chrono::milliseconds UpstreamBackend::backoff(unsigned attempt) {
    static std::mt19937_64 rng{std::random_device{}()};
    const double base = settings_.retry_backoff.count() * static_cast<double>(1u << std::min(attempt, 10u));
    const double jittered = base * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
    return std::chrono::milliseconds(static_cast<long long>(std::min(jittered, 30.0) * 1000));
}

asio::awaitable<bool> UpstreamBackend::sleep(std::chrono::milliseconds delay, ChildControl& control) {
    if (control.cancelled()) co_return false;
    asio::steady_timer timer(executor_, delay);
    control.set_cancel_handler([&timer] { timer.cancel(); });
    struct ClearHandler { // also when the frame is destroyed while it waits
        ChildControl& control;
        ~ClearHandler() { control.set_cancel_handler(nullptr); }
    } clear_handler{control};
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    co_return !control.cancelled();
}

asio::awaitable<TurnResult> UpstreamBackend::run(const TurnRequest& request,
                                                 std::shared_ptr<ChildControl> control) {
    ++stats_.calls;
    CallResult r = co_await call(request, *control);
    if (r.result.status == Status::completed) ++stats_.completed;
    if (!r.unreachable || !settings_.fallback_to_direct || !fallback_ || control->cancelled())
        co_return r.result;

    ++stats_.fallbacks;
    log_->warn("API shim: {}; falling back to running claude directly (api_shim.fallback_to_direct)",
               r.result.detail);
    TurnResult direct = co_await fallback_->run(request, control);
    if (direct.status == Status::not_found || direct.status == Status::spawn_failed) {
        r.result.detail +=
            "; the fallback to direct spawn failed too: claude " +
            std::string(direct.status == Status::not_found ? "is not installed" : "could not be started");
        co_return r.result;
    }
    co_return direct;
}

asio::awaitable<UpstreamBackend::CallResult> UpstreamBackend::call(const TurnRequest& request,
                                                                   ChildControl& control) {
    const auto started = Clock::now();
    const auto deadline = started + to_ms(settings_.timeout);
    const bool stream_json = request.format == protocol::ClaudeOutputFormat::stream_json;
    const bool stream = stream_json && request.incremental; // else one non-streaming call
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

    UpstreamExchange x;
    x.target = client_->base().path + "/chat/completions";
    x.body = protocol::upstream_request_body(turn);
    x.event_stream = stream;
    x.deadline = deadline;
    x.max_body_bytes = max_output_bytes_;
    if (!settings_.api_key.empty()) x.headers.emplace_back("Authorization", "Bearer " + settings_.api_key);
    x.headers.emplace_back(std::string(protocol::hop_header),
                           request.hops.empty() ? instance_id() : request.hops + "," + instance_id());
    if (request.resume_session && settings_.send_metadata)
        x.headers.emplace_back("X-Session-Id", *request.resume_session);
    const protocol::ShimFields fields{request.model, protocol::legacy_timestamp_now(), request.agent_id};

    auto failed = [&](std::string kind, TurnResult r, bool unreachable = false) {
        ++stats_.failures[kind];
        log_->warn("API shim: upstream call failed ({}): {}", kind, r.detail);
        return CallResult{std::move(r), unreachable};
    };
    auto too_large_failure = [&] {
        return failed("too_large",
                      failure(Status::output_too_large, "the upstream's answer exceeded the output limit"));
    };

    for (unsigned attempt = 0;; ++attempt) {
        TurnResult result;
        result.from_upstream = true;
        std::optional<protocol::UpstreamStreamTranslator> translator;
        bool too_large = false; // the translated output passed max_output_bytes (it is bigger than the SSE)
        auto emit = [&](const std::string& lines) {
            if (lines.empty() || too_large) return;
            if (result.stdout_data.size() + lines.size() > max_output_bytes_) {
                too_large = true;
                return;
            }
            result.stdout_data += lines;
            if (request.on_output) request.on_output(lines);
        };
        auto start_translation = [&](const UpstreamReply& head) {
            translator.emplace(present(head.session_id), fields, max_output_bytes_);
            emit(translator->init_line());
        };
        if (stream)
            x.on_success_body = [&](const UpstreamReply& head, std::string_view bytes) {
                if (!translator) start_translation(head);
                std::string lines;
                translator->feed(bytes, lines);
                emit(lines);
            };
        UpstreamReply reply = co_await client_->exchange(x, control);
        if (too_large) co_return too_large_failure();

        // A failure where the upstream provably did nothing may be retried: how long to wait first, and what
        // to report when it is not.
        std::chrono::milliseconds retry_delay{0};
        std::string retry_reason;
        struct {
            std::string kind;
            TurnResult result;
            bool unreachable = false;
        } give_up; // reported (and counted) only when no retry follows
        switch (reply.outcome) {
        case Outcome::response:
            break;
        case Outcome::cancelled:
            co_return CallResult{failure(Status::cancelled, "cancelled")};
        case Outcome::timed_out:
            co_return failed(
                "timeout", failure(Status::timed_out, "the upstream did not answer within api_shim.timeout"));
        case Outcome::too_large:
            co_return failed("too_large", failure(Status::output_too_large,
                                                  "the upstream's response exceeded the output limit"));
        case Outcome::tls_failed:
            co_return failed("tls", failure(Status::upstream_failed, reply.detail));
        case Outcome::failed_after_send:
            co_return failed(
                "after_send",
                failure(Status::upstream_failed, reply.detail + " (not retried: the request may have run)"));
        case Outcome::connect_failed:
            retry_delay = backoff(attempt);
            retry_reason = reply.detail;
            give_up = {"connect", failure(Status::upstream_failed, reply.detail), true};
            break;
        }

        if (reply.outcome == Outcome::response && reply.status == 200) {
            if (stream) {
                if (!translator) start_translation(reply); // a 200 with no body at all
                auto last = translator->finish(elapsed_ms(started));
                if (!last)
                    co_return failed("invalid_response", failure(Status::upstream_failed, last.error(), 200));
                emit(*last);
            } else {
                auto object = protocol::cli_result_from_completion(reply.body, present(reply.session_id),
                                                                   fields, elapsed_ms(started));
                if (!object)
                    co_return failed("invalid_response",
                                     failure(Status::upstream_failed, object.error(), 200));
                std::string output = boost::json::serialize(*object) + "\n";
                if (stream_json) { // the whole answer at once, as stream-json: init, then the result
                    const auto* session = object->if_contains("session_id");
                    emit(protocol::stream_json_init_line(
                             session && session->is_string()
                                 ? std::optional<std::string>(session->get_string())
                                 : std::nullopt,
                             request.model) +
                         output);
                } else {
                    result.stdout_data = std::move(output);
                }
            }
            if (too_large) co_return too_large_failure();
            result.status = Status::completed;
            result.returncode = 0;
            co_return CallResult{std::move(result)};
        }

        if (reply.outcome == Outcome::response) {
            const std::string message = protocol::upstream_error_message(reply.body);
            give_up = {"http_" + std::to_string(reply.status),
                       failure(Status::upstream_failed,
                               "the upstream answered " + std::to_string(reply.status) + ": " + message,
                               reply.status)};
            const bool did_nothing = (reply.status == 429 || reply.status == 503) && !reply.body_started;
            if (!did_nothing) co_return failed(give_up.kind, std::move(give_up.result));
            retry_delay = protocol::parse_retry_after(reply.retry_after, reply.retry_after_ms,
                                                      std::chrono::system_clock::now())
                              .value_or(backoff(attempt));
            retry_reason = "the upstream answered " + std::to_string(reply.status) + " (" + message + ")";
        }
        if (attempt >= settings_.retry_attempts || Clock::now() + retry_delay >= deadline)
            co_return failed(give_up.kind, std::move(give_up.result), give_up.unreachable);
        ++stats_.retries;
        log_->info("API shim: {}; retry {} of {} in {} ms", retry_reason, attempt + 1,
                   settings_.retry_attempts, retry_delay.count());
        if (!co_await sleep(retry_delay, control))
            co_return CallResult{failure(Status::cancelled, "cancelled")};
    }
}

} // namespace ksid::daemon
