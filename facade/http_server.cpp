#include "facade/http_server.hpp"

#include "daemon/claude/claude_process_manager.hpp"
#include "daemon/filesystem.hpp"
#include "daemon/ids.hpp"
#include "daemon/jobs/job_queue.hpp"
#include "daemon/lifecycle.hpp"
#include "facade/metrics.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/openai_chat.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/stream_json.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <random>
#include <sstream>
#include <unordered_map>

namespace ksid::facade {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Clock = std::chrono::steady_clock;

namespace {

std::chrono::milliseconds ms(config::Seconds s) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

long long unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string random_request_id() {
    static std::mt19937_64 rng{std::random_device{}()};
    char buf[40];
    std::snprintf(buf, sizeof buf, "req_%016llx", static_cast<unsigned long long>(rng()));
    return buf;
}

// Constant-time comparison: the time does not depend on where the first difference is.
bool equal_constant_time(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

bool is_loopback(const std::string& host) {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    return !ec && addr.is_loopback();
}

protocol::OpenAIError error_of(int status, std::string type, std::string message,
                               std::optional<std::string> code = {}) {
    return protocol::OpenAIError{status, std::move(type), std::move(message), std::nullopt, std::move(code)};
}

// Everything one chat completion needs while it runs; shared with the callbacks that feed it.
struct TurnState {
    explicit TurnState(asio::any_io_executor ex) : wake(ex) {}
    protocol::StreamJsonParser parser;
    std::vector<protocol::StreamEvent> events;
    std::size_t consumed = 0;
    std::optional<daemon::TurnResult> result;
    bool client_gone = false;
    daemon::AsyncSignal wake;
};

} // namespace

std::optional<std::string> resolve_api_keys(const config::Config& cfg, std::vector<std::string>& keys) {
    keys = cfg.facade.api_keys;
    if (!cfg.facade.api_keys_file.empty()) {
        auto text = daemon::read_small_file(cfg.facade.api_keys_file, 1 << 20);
        if (!text) return "facade.api_keys_file: cannot read " + cfg.facade.api_keys_file;
        std::istringstream lines(*text);
        for (std::string line; std::getline(lines, line);) {
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
                line.pop_back();
            const auto start = line.find_first_not_of(" \t");
            if (start == std::string::npos || line[start] == '#') continue;
            keys.push_back(line.substr(start));
        }
    }
    for (const auto& k : keys)
        if (k.size() < 8) return "facade API keys must be at least 8 characters";
    if (!is_loopback(cfg.facade.host) && keys.empty())
        return "refusing to serve the HTTP facade on " + cfg.facade.host +
               " without API keys: set facade.api_keys, facade.api_keys_file or KSID_API_KEYS, or listen on "
               "127.0.0.1";
    return std::nullopt;
}

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    Impl(asio::any_io_executor ex, FacadeDeps d, std::vector<std::string> keys)
        : executor(ex), deps(std::move(d)), api_keys(std::move(keys)), acceptor(ex), sessions_changed(ex),
          started_at(Clock::now()) {}

    asio::any_io_executor executor;
    FacadeDeps deps;
    std::vector<std::string> api_keys;
    tcp::acceptor acceptor;
    struct SessionInfo {
        std::weak_ptr<beast::tcp_stream> stream;
        bool busy = false; // a request is being handled
    };
    std::unordered_map<std::uint64_t, SessionInfo> sessions;
    std::uint64_t next_session = 1;
    bool stopping = false;
    daemon::AsyncSignal sessions_changed;
    Metrics metrics;
    Clock::time_point started_at;

    const config::FacadeSettings& fs() const { return deps.config.facade; }

    // ---------- responses ----------

    template <class Body>
    void common_headers(http::response<Body>& res, const Request& req, const std::string& request_id) {
        res.set(http::field::server, "ksid/" KSID_VERSION);
        res.set("X-Request-Id", request_id);
        res.keep_alive(req.keep_alive());
    }

    http::response<http::string_body> json_response(const Request& req, const std::string& request_id,
                                                    http::status status, const json::value& body) {
        http::response<http::string_body> res{status, req.version()};
        common_headers(res, req, request_id);
        res.set(http::field::content_type, "application/json");
        res.body() = json::serialize(body);
        res.prepare_payload();
        return res;
    }

    http::response<http::string_body> error_response(const Request& req, const std::string& request_id,
                                                     const protocol::OpenAIError& e) {
        auto res = json_response(req, request_id, static_cast<http::status>(e.status),
                                 protocol::openai_error_body(e));
        if (e.status == 429) {
            res.set(http::field::retry_after, "1");
            res.set("retry-after-ms", "1000");
        } else if (e.status != 408 && e.status != 409 && e.status < 500) {
            res.set("x-should-retry", "false");
        } else if (e.status == 502 || e.status == 504) {
            res.set("x-should-retry", "false"); // the run may have used tools: never run it twice
        }
        return res;
    }

    // ---------- auth and routing ----------

    std::optional<protocol::OpenAIError> authenticate(const Request& req) const {
        if (api_keys.empty()) return std::nullopt;
        const auto header = req[http::field::authorization];
        if (header.empty())
            return error_of(401, "authentication_error",
                            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                            "invalid_api_key");
        std::string_view h(header.data(), header.size());
        if (!h.starts_with("Bearer "))
            return error_of(401, "authentication_error", "Malformed Authorization header.",
                            "invalid_api_key");
        const auto presented = h.substr(7);
        bool ok = false;
        for (const auto& key : api_keys)
            ok |= equal_constant_time(presented, key); // check every key
        if (!ok)
            return error_of(401, "authentication_error", "Incorrect API key provided.", "invalid_api_key");
        return std::nullopt;
    }

    asio::awaitable<bool> handle(beast::tcp_stream& stream, const Request& req) {
        const auto started = Clock::now();
        std::string request_id(req["X-Request-Id"]);
        if (request_id.empty() || request_id.size() > 128) request_id = random_request_id();
        std::string target(req.target());
        if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
        std::string route = "other";
        int status = 200;
        bool keep = req.keep_alive();

        std::optional<http::response<http::string_body>> response; // written once, below
        auto method_not_allowed = [&](const char* allow) {
            auto res = error_response(
                req, request_id,
                error_of(405, "invalid_request_error",
                         "Method " + std::string(req.method_string()) + " is not allowed for " + target));
            res.set(http::field::allow, allow);
            return res;
        };

        if (target == "/health") {
            route = "/health";
            if (req.method() != http::verb::get && req.method() != http::verb::head)
                response.emplace(method_not_allowed("GET, HEAD"));
            else
                response.emplace(json_response(req, request_id, http::status::ok, health()));
        } else if (target == "/metrics" || target == "/v1/models" || target.starts_with("/v1/models/") ||
                   target == "/v1/chat/completions") {
            route = target.starts_with("/v1/models/") ? "/v1/models/{id}" : target;
            const bool is_chat = target == "/v1/chat/completions";
            const bool method_ok =
                is_chat ? req.method() == http::verb::post : req.method() == http::verb::get;
            if (!method_ok) {
                response.emplace(method_not_allowed(is_chat ? "POST" : "GET"));
            } else if (auto denied = authenticate(req)) {
                response.emplace(error_response(req, request_id, *denied));
            } else if (target == "/metrics") {
                auto res = json_response(req, request_id, http::status::ok, nullptr);
                res.set(http::field::content_type, "text/plain; version=0.0.4");
                const auto q = deps.queue.stats();
                res.body() = metrics.render({q.running, q.pending, q.max_concurrent, q.max_pending},
                                            sessions.size(), deps.upstream);
                res.prepare_payload();
                response.emplace(std::move(res));
            } else if (target == "/v1/models") {
                response.emplace(
                    json_response(req, request_id, http::status::ok,
                                  protocol::model_list_body(deps.config.models.available, created_at())));
            } else if (!is_chat) {
                const std::string id = target.substr(std::string("/v1/models/").size());
                const auto& models = deps.config.models.available;
                if (std::find(models.begin(), models.end(), id) == models.end())
                    response.emplace(
                        error_response(req, request_id,
                                       error_of(404, "invalid_request_error",
                                                "The model '" + id + "' does not exist", "model_not_found")));
                else
                    response.emplace(json_response(req, request_id, http::status::ok,
                                                   protocol::model_body(id, created_at())));
            } else {
                const auto outcome = co_await chat_completions(stream, req, request_id);
                status = outcome.first;
                keep = outcome.second;
            }
        } else {
            route = "unknown";
            response.emplace(error_response(
                req, request_id,
                error_of(404, "invalid_request_error",
                         "Unknown request URL: " + std::string(req.method_string()) + " " + target)));
        }
        if (response) {
            status = response->result_int();
            auto [ec, n] = co_await http::async_write(stream, *response, as_tuple(use_awaitable));
            keep = !ec && response->keep_alive();
        }
        metrics.request(route, status, std::chrono::duration<double>(Clock::now() - started).count());
        co_return keep;
    }

    long long created_at() const {
        return unix_now() -
               std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_at).count();
    }

    json::object health() const {
        const auto q = deps.queue.stats();
        return {{"status", deps.manager.stopping() ? "stopping" : "ok"},
                {"backend", deps.config.api_shim.enabled ? "api_shim" : "cli"},
                {"queue", json::object{{"running", q.running},
                                       {"pending", q.pending},
                                       {"max_concurrent", q.max_concurrent},
                                       {"max_pending", q.max_pending}}},
                {"uptime_seconds",
                 std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_at).count()}};
    }

    // ---------- chat completions ----------

    // Watches the client's socket while a run is in progress: EOF or an error means it went away.
    asio::awaitable<void> watch_client(beast::tcp_stream& stream, std::shared_ptr<TurnState> state,
                                       std::shared_ptr<daemon::Job> job, asio::cancellation_slot slot) {
        auto& sock = stream.socket();
        for (;;) {
            auto [ec] = co_await sock.async_wait(tcp::socket::wait_read,
                                                 asio::bind_cancellation_slot(slot, as_tuple(use_awaitable)));
            if (ec) co_return; // cancelled: the request finished
            char c;
            const auto n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n > 0) { // a pipelined request: not a disconnect; stop watching
                co_return;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                state->client_gone = true;
                job->cancel();
                state->wake.notify();
                co_return;
            }
        }
    }

    // started: the run had begun (a run stopped midway may have used tools: not a 503, which says "retry").
    protocol::OpenAIError failure_of(const daemon::TurnResult& r, const TurnState& state, bool started) {
        using S = daemon::TurnResult::Status;
        switch (r.status) {
        case S::not_found:
            metrics.run_ended("not_found");
            return error_of(503, "service_unavailable_error",
                            "the claude CLI is not installed on this server");
        case S::spawn_failed:
            metrics.run_ended("spawn_failed");
            return error_of(503, "service_unavailable_error", "claude could not be started");
        case S::timed_out:
            metrics.run_ended("timed_out");
            return error_of(504, "timeout_error",
                            r.from_upstream ? "the upstream did not answer within api_shim.timeout"
                                            : "the run exceeded its time limit and was stopped");
        case S::output_too_large:
            metrics.run_ended("output_too_large");
            return error_of(502, "server_error", "claude produced more output than allowed");
        case S::cancelled:
            metrics.run_ended(state.client_gone ? "client_gone" : "cancelled");
            if (started) return error_of(502, "server_error", "the run was stopped: ksid is shutting down");
            return error_of(503, "service_unavailable_error", "ksid is shutting down");
        case S::rejected:
            metrics.run_ended("rejected");
            return error_of(429, "rate_limit_error", "ksid's job queue is full; retry later");
        case S::upstream_failed: {
            metrics.run_ended("upstream_failed");
            const int u = r.upstream_status;
            // The client's own mistakes and back-pressure pass through; anything else is a bad gateway.
            if (u == 400 || u == 404 || u == 413 || u == 422 || u == 429 || u == 508) {
                const char* type = u == 429 ? "rate_limit_error" : "invalid_request_error";
                return error_of(u, type, "upstream: " + r.detail);
            }
            return error_of(502, "server_error", "upstream: " + r.detail);
        }
        case S::completed:
            break;
        }
        return error_of(500, "server_error", "unexpected state");
    }

    // The CLI's final result object, or the error to report.
    std::optional<json::object> final_result(const TurnState& state, const daemon::TurnResult& r,
                                             protocol::OpenAIError& error) {
        for (const auto& e : state.events)
            if (e.kind == protocol::StreamEvent::Kind::result) {
                const auto* is_error = e.object.if_contains("is_error");
                if (is_error && is_error->is_bool() && is_error->get_bool()) {
                    const auto* text = e.object.if_contains("result");
                    error = error_of(502, "server_error",
                                     "claude reported an error: " +
                                         (text && text->is_string()
                                              ? std::string(text->get_string()).substr(0, 500)
                                              : std::string("(no text)")));
                    metrics.run_ended("claude_error");
                    return std::nullopt;
                }
                metrics.run_ended("completed");
                return e.object;
            }
        std::string detail = r.stderr_data.substr(0, r.stderr_data.find('\n'));
        if (detail.size() > 300) detail.resize(300);
        error = error_of(502, "server_error",
                         "claude ended without a result (exit status " + std::to_string(r.returncode) + ")" +
                             (detail.empty() ? std::string() : ": " + detail));
        metrics.run_ended("no_result");
        return std::nullopt;
    }

    // A finished turn: the CLI's result object, or (nullopt) the error to report in `error`.
    std::optional<json::object> outcome_of(const daemon::Job& job, const TurnState& state,
                                           protocol::OpenAIError& error) {
        if (state.result->status != daemon::TurnResult::Status::completed) {
            error = failure_of(*state.result, state, job.started_at().has_value());
            return std::nullopt;
        }
        return final_result(state, *state.result, error);
    }

    // Sends an error response. (GCC 12 destroys temporaries in co_await expressions twice in some cases,
    // so callers pass named objects, never temporaries, to the coroutines here.)
    asio::awaitable<std::pair<int, bool>> send_error(beast::tcp_stream& stream, const Request& req,
                                                     const std::string& request_id,
                                                     const protocol::OpenAIError& e) {
        auto res = error_response(req, request_id, e);
        auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
        co_return std::pair{e.status, !ec && res.keep_alive()};
    }

    // Validates a chat request; the error to answer, if any.
    // Loop protection for API-shim chains: a request that already passed through this ksid is refused.
    static std::optional<protocol::OpenAIError> check_hops(std::string_view hops) {
        auto problem = protocol::check_hop_chain(hops, daemon::instance_id());
        if (!problem) return std::nullopt;
        if (problem->malformed)
            return protocol::OpenAIError{400, "invalid_request_error", problem->message, std::nullopt,
                                         std::nullopt};
        return protocol::OpenAIError{508, "invalid_request_error", problem->message, std::nullopt,
                                     std::string("loop_detected")};
    }

    std::optional<protocol::OpenAIError> check_chat(const Request& req, protocol::ChatRequest& chat,
                                                    protocol::RenderedPrompt& rendered,
                                                    std::string_view hops) {
        if (auto loop = check_hops(hops)) return loop;
        std::optional<std::string_view> header_session;
        if (auto h = req["X-Session-Id"]; !h.empty()) header_session = std::string_view(h.data(), h.size());
        auto parsed = protocol::parse_chat_request(req.body(), header_session);
        if (!parsed) return parsed.error();
        chat = std::move(*parsed);
        if (auto problem = deps.manager.check_model(chat.model))
            return protocol::OpenAIError{404, "invalid_request_error", *problem, std::string("model"),
                                         std::string("model_not_found")};
        if (chat.enable_tools.value_or(false) && !fs().enable_tools)
            return protocol::OpenAIError{
                400, "invalid_request_error",
                "tools are disabled for HTTP clients on this server (facade.enable_tools)",
                std::string("metadata.enable_tools"), std::nullopt};
        rendered = protocol::render_chat_prompt(chat);
        if (rendered.system_prompt.size() > 100 * 1024)
            return protocol::OpenAIError{400, "invalid_request_error",
                                         "system messages are limited to 100 KiB in total",
                                         std::string("messages"), std::nullopt};
        if (rendered.prompt.empty())
            return protocol::OpenAIError{400, "invalid_request_error", "there is no user text to answer",
                                         std::string("messages"), std::nullopt};
        if (deps.manager.stopping())
            return error_of(503, "service_unavailable_error", "ksid is shutting down");
        return std::nullopt;
    }

    asio::awaitable<std::pair<int, bool>> chat_completions(beast::tcp_stream& stream, const Request& req,
                                                           const std::string& request_id) {
        protocol::ChatRequest chat;
        protocol::RenderedPrompt rendered;
        const auto hop_value = req[protocol::hop_header];
        const std::string hops(hop_value.data(), hop_value.size());
        const std::optional<protocol::OpenAIError> invalid = check_chat(req, chat, rendered, hops);
        if (invalid) co_return co_await send_error(stream, req, request_id, *invalid);

        daemon::SpawnParams params;
        params.prompt = rendered.prompt;
        params.model = chat.model;
        params.session_id = chat.session_id;
        params.agent_id = chat.agent_id ? json::value(*chat.agent_id) : json::value(nullptr);
        params.enable_tools = chat.enable_tools.value_or(false) && fs().enable_tools;
        params.priority = chat.priority;
        params.hops = hops;

        auto state = std::make_shared<TurnState>(executor);
        auto job = deps.manager.submit_stream_turn(
            params, rendered.system_prompt,
            [state](std::string_view bytes) {
                state->parser.feed(bytes, state->events);
                state->wake.notify();
            },
            chat.stream);
        if (!job) {
            metrics.run_ended("rejected");
            const auto full = error_of(429, "rate_limit_error", "ksid's job queue is full; retry later");
            co_return co_await send_error(stream, req, request_id, full);
        }
        const auto submitted = Clock::now();
        bool queue_wait_recorded = false;
        auto record_queue_wait = [&] {
            if (queue_wait_recorded || job->state() == daemon::Job::State::queued) return;
            queue_wait_recorded = true;
            metrics.queue_wait(std::chrono::duration<double>(Clock::now() - submitted).count());
        };
        asio::co_spawn(
            executor,
            [state, job]() -> asio::awaitable<void> {
                auto r = co_await job->wait();
                state->result = std::move(r);
                state->parser.finish(state->events);
                state->wake.notify();
            },
            asio::detached);
        asio::cancellation_signal stop_watching;
        asio::co_spawn(executor, watch_client(stream, state, job, stop_watching.slot()), asio::detached);
        struct StopWatch {
            asio::cancellation_signal& s;
            ~StopWatch() { s.emit(asio::cancellation_type::terminal); }
        } stop_watch{stop_watching};

        const long long created = unix_now();
        if (!chat.stream) {
            while (!state->result)
                co_await state->wake.wait();
            record_queue_wait();
            if (state->client_gone) co_return std::pair{499, false};
            protocol::OpenAIError e;
            const std::optional<json::object> result = outcome_of(*job, *state, e);
            if (!result) co_return co_await send_error(stream, req, request_id, e);
            co_return co_await respond_complete(stream, req, request_id, chat, params, job->id(), *result,
                                                created);
        }
        co_return co_await respond_stream(stream, req, request_id, chat, params, job, state, created,
                                          record_queue_wait);
    }

    std::string session_of(const json::object& result, const daemon::SpawnParams& params) const {
        const auto* s = result.if_contains("session_id");
        if (s && s->is_string() && protocol::is_valid_session_id(s->get_string()))
            return std::string(s->get_string());
        return params.session_id.value_or(std::string());
    }

    void account(const json::object& result) {
        const auto usage =
            protocol::openai_usage(result.contains("usage") ? result.at("usage") : json::value(nullptr));
        double cost = 0;
        if (const auto* c = result.if_contains("total_cost_usd"); c && c->is_number())
            cost = c->to_number<double>();
        metrics.tokens(usage.at("prompt_tokens").as_int64(), usage.at("completion_tokens").as_int64(), cost);
    }

    asio::awaitable<std::pair<int, bool>>
    respond_complete(beast::tcp_stream& stream, const Request& req, const std::string& request_id,
                     const protocol::ChatRequest& chat, const daemon::SpawnParams& params,
                     const std::string& job_id, const json::object& result, long long created) {
        const std::string session = session_of(result, params);
        if (!session.empty()) deps.manager.record_turn(job_id, params, result, session);
        account(result);
        const auto* text = result.if_contains("result");
        const auto* stop = result.if_contains("stop_reason");
        auto body = protocol::chat_completion_body(
            session.empty() ? "chatcmpl-" + job_id : session, created, chat.model,
            text && text->is_string() ? std::string_view(text->get_string()) : std::string_view(),
            protocol::finish_reason_for(stop && stop->is_string() ? std::string_view(stop->get_string())
                                                                  : "end_turn"),
            result.contains("usage") ? result.at("usage") : json::value(nullptr));
        if (!params.hops.empty())
            body["ksid_result"] = result; // another ksid's API shim: its exact CLI result
        auto res = json_response(req, request_id, http::status::ok, body);
        if (!session.empty()) res.set("X-Session-Id", session);
        auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
        co_return std::pair{200, !ec && res.keep_alive()};
    }

    // The SSE response head (chunked): written once the session id is known.
    asio::awaitable<bool> write_stream_headers(beast::tcp_stream& stream, const Request& req,
                                               const std::string& request_id, const std::string& session) {
        auto res = std::make_unique<http::response<http::empty_body>>(http::status::ok, req.version());
        common_headers(*res, req, request_id);
        res->set(http::field::content_type, "text/event-stream");
        res->set(http::field::cache_control, "no-cache");
        res->set("X-Accel-Buffering", "no");
        if (!session.empty()) res->set("X-Session-Id", session);
        res->chunked(true);
        auto sr = std::make_unique<http::response_serializer<http::empty_body>>(*res);
        auto [ec, n] = co_await http::async_write_header(stream, *sr, as_tuple(use_awaitable));
        co_return !ec;
    }

    // The terminating zero-length chunk, written as bytes (GCC 12 cannot keep Beast's chunk_last temporary
    // in a coroutine frame).
    asio::awaitable<bool> write_last_chunk(beast::tcp_stream& stream) {
        static constexpr char last[] = "0\r\n\r\n";
        auto [ec, n] =
            co_await asio::async_write(stream, asio::buffer(last, sizeof last - 1), as_tuple(use_awaitable));
        co_return !ec;
    }

    // Writes one HTTP chunk; on failure the client is gone and its run is cancelled.
    asio::awaitable<void> write_chunk(beast::tcp_stream& stream, std::string data, bool& ok, TurnState& state,
                                      daemon::Job& job) {
        if (!ok) co_return;
        auto [ec, n] =
            co_await asio::async_write(stream, http::make_chunk(asio::buffer(data)), as_tuple(use_awaitable));
        if (ec) {
            ok = false;
            state.client_gone = true;
            job.cancel();
        }
    }

    asio::awaitable<std::pair<int, bool>>
    respond_stream(beast::tcp_stream& stream, const Request& req, const std::string& request_id,
                   const protocol::ChatRequest& chat, const daemon::SpawnParams& params,
                   std::shared_ptr<daemon::Job> job, std::shared_ptr<TurnState> state, long long created,
                   std::function<void()> record_queue_wait) {
        using Kind = protocol::StreamEvent::Kind;
        // Headers wait for the init event: it carries the session id, which is the completion id.
        std::optional<std::string> session;
        for (;;) {
            for (; state->consumed < state->events.size() && !session; ++state->consumed)
                if (state->events[state->consumed].kind == Kind::init)
                    session = state->events[state->consumed].session_id.value_or("");
            if (session || state->result || state->client_gone) break;
            co_await state->wake.wait();
        }
        record_queue_wait();
        if (state->client_gone) co_return std::pair{499, false};
        if (!session) { // ended before it said anything: a plain error response
            protocol::OpenAIError e;
            (void)outcome_of(*job, *state, e);
            auto res = error_response(req, request_id, e);
            co_await http::async_write(stream, res, as_tuple(use_awaitable));
            co_return std::pair{e.status, false};
        }
        const std::string id = session->empty() ? "chatcmpl-" + job->id() : *session;

        if (!co_await write_stream_headers(stream, req, request_id, *session)) {
            job->cancel();
            co_return std::pair{200, false};
        }
        bool ok = true;
        // (built before the co_await: GCC 12 cannot keep an initializer_list temporary in a coroutine frame)
        std::string first_chunk = protocol::sse_event(protocol::chat_chunk_body(
            id, created, chat.model, {{"role", "assistant"}, {"content", ""}}, std::nullopt));
        co_await write_chunk(stream, std::move(first_chunk), ok, *state, *job);
        asio::steady_timer keepalive(executor);
        for (;;) {
            std::string batch; // every event that waits goes out in one chunk
            for (; state->consumed < state->events.size(); ++state->consumed) {
                const auto& e = state->events[state->consumed];
                if (e.kind == Kind::text_delta || (e.kind == Kind::assistant_text && !e.already_streamed))
                    batch += protocol::sse_event(protocol::chat_chunk_body(
                        id, created, chat.model, {{"content", e.text}}, std::nullopt));
            }
            if (!batch.empty()) co_await write_chunk(stream, std::move(batch), ok, *state, *job);
            if (!ok || state->result) break;
            using namespace asio::experimental::awaitable_operators;
            keepalive.expires_after(ms(fs().keepalive_interval));
            auto r = co_await (state->wake.wait() || keepalive.async_wait(as_tuple(use_awaitable)));
            if (r.index() == 1 && !state->result && state->consumed == state->events.size())
                co_await write_chunk(stream, std::string(protocol::sse_keepalive), ok, *state, *job);
            if (!ok) break;
        }
        if (!ok || state->client_gone) {
            metrics.run_ended("client_gone");
            co_return std::pair{200, false};
        }
        protocol::OpenAIError e;
        const std::optional<json::object> result = outcome_of(*job, *state, e);
        if (!result) { // after the headers an error is an event, then the stream ends
            co_await write_chunk(stream, protocol::sse_event(protocol::openai_error_body(e)), ok, *state,
                                 *job);
            co_await write_chunk(stream, std::string(protocol::sse_done), ok, *state, *job);
            if (ok) co_await write_last_chunk(stream);
            co_return std::pair{200, false};
        }
        if (!session->empty()) deps.manager.record_turn(job->id(), params, *result, *session);
        account(*result);
        const auto* stop = result->if_contains("stop_reason");
        json::object finish_chunk = protocol::chat_chunk_body(
            id, created, chat.model, {},
            protocol::finish_reason_for(stop && stop->is_string() ? std::string_view(stop->get_string())
                                                                  : "end_turn"));
        if (!params.hops.empty()) finish_chunk["ksid_result"] = *result; // another ksid's API shim
        std::string tail = protocol::sse_event(finish_chunk);
        if (chat.include_usage)
            tail += protocol::sse_event(protocol::chat_usage_chunk_body(
                id, created, chat.model,
                result->contains("usage") ? result->at("usage") : json::value(nullptr)));
        tail += protocol::sse_done;
        co_await write_chunk(stream, std::move(tail), ok, *state, *job);
        if (ok) ok = co_await write_last_chunk(stream);
        co_return std::pair{200, ok && req.keep_alive()};
    }

    // ---------- connections ----------

    asio::awaitable<void> session(tcp::socket socket) {
        auto self = shared_from_this();
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        const auto id = next_session++;
        sessions.emplace(id, SessionInfo{stream, false});
        beast::flat_buffer buffer;
        bool first = true;
        try {
            while (!stopping) {
                http::request_parser<http::string_body> parser;
                parser.body_limit(fs().max_body_bytes);
                parser.header_limit(16 * 1024);
                stream->expires_after(first ? ms(fs().header_timeout) : ms(fs().idle_timeout));
                auto [ec, n] =
                    co_await http::async_read_header(*stream, buffer, parser, as_tuple(use_awaitable));
                if (ec == http::error::body_limit) {
                    co_await reject(*stream, parser.get(), 413,
                                    "the request body is larger than facade.max_body_bytes");
                    break;
                }
                if (ec) {
                    if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                        ec != asio::error::eof && ec != asio::error::operation_aborted &&
                        ec != asio::error::connection_reset && buffer.size() > 0) {
                        std::string message = "malformed HTTP request: " + ec.message();
                        co_await reject(*stream, parser.get(), 400, std::move(message));
                    }
                    break;
                }
                first = false;
                if (!parser.is_done()) {
                    stream->expires_after(ms(fs().body_timeout));
                    auto [ec2, n2] =
                        co_await http::async_read(*stream, buffer, parser, as_tuple(use_awaitable));
                    if (ec2 == http::error::body_limit) {
                        co_await reject(*stream, parser.get(), 413,
                                        "the request body is larger than facade.max_body_bytes");
                        break;
                    }
                    if (ec2) break;
                }
                stream->expires_never();
                sessions[id].busy = true;
                const bool keep = co_await handle(*stream, parser.get());
                sessions[id].busy = false;
                if (!keep) break;
            }
        } catch (const std::exception& e) {
            deps.log->error("HTTP connection ended by an internal error: {}", e.what());
        }
        boost::system::error_code ignored;
        stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream->close();
        sessions.erase(id);
        sessions_changed.notify();
    }

    // Answers a request that will not be read to the end, then lingers briefly discarding what the client
    // still sends: closing with unread input would reset the connection and lose the answer.
    asio::awaitable<void> reject(beast::tcp_stream& stream, const Request& req, int status,
                                 std::string message) {
        auto res = error_response(req, random_request_id(),
                                  error_of(status, "invalid_request_error", std::move(message)));
        res.keep_alive(false);
        stream.expires_after(std::chrono::seconds(5));
        co_await http::async_write(stream, res, as_tuple(use_awaitable));
        metrics.request("rejected", status, 0);
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(std::chrono::seconds(2));
        std::array<char, 16384> sink;
        std::size_t drained = 0;
        while (drained < (64u << 20)) {
            auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
            if (ec) break;
            drained += n;
        }
    }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (!stopping) {
            auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
            if (ec == asio::error::operation_aborted || stopping) co_return;
            if (ec) {
                asio::steady_timer t(executor, std::chrono::milliseconds(100));
                co_await t.async_wait(as_tuple(use_awaitable));
                continue;
            }
            if (sessions.size() >= fs().max_connections) {
                boost::system::error_code ignored;
                socket.close(ignored);
                continue;
            }
            socket.set_option(tcp::no_delay(true));
            asio::co_spawn(executor, session(std::move(socket)), asio::detached);
        }
    }
};

HttpServer::HttpServer(asio::any_io_executor executor, FacadeDeps deps, std::vector<std::string> api_keys)
    : impl_(std::make_shared<Impl>(executor, std::move(deps), std::move(api_keys))) {}

HttpServer::~HttpServer() = default;

std::optional<std::string> HttpServer::listen() {
    const auto& fs = impl_->fs();
    boost::system::error_code ec;
    const std::string host = fs.host == "localhost" ? "127.0.0.1" : fs.host;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return "facade.host: '" + fs.host + "' is not an IP address";
    tcp::endpoint ep(addr, fs.port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen on " + host + ":" + std::to_string(fs.port) + ": " + ec.message();
    return std::nullopt;
}

std::string HttpServer::endpoint() const {
    boost::system::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void HttpServer::start() {
    asio::co_spawn(impl_->executor, impl_->accept_loop(), asio::detached);
}

void HttpServer::stop() {
    impl_->stopping = true;
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    // Idle keep-alive connections close now; those with a run in progress finish it (the run itself is
    // cancelled by the process manager's shutdown) and close after their response.
    for (auto& [id, info] : impl_->sessions)
        if (auto s = info.stream.lock(); s && !info.busy) s->expires_after(std::chrono::milliseconds(0));
}

asio::awaitable<void> HttpServer::wait_idle(Clock::time_point deadline) {
    while (!impl_->sessions.empty() && Clock::now() < deadline)
        co_await impl_->sessions_changed.wait_until(deadline);
    for (auto& [id, info] : impl_->sessions)
        if (auto s = info.stream.lock()) s->close();
}

} // namespace ksid::facade
