#include "daemon/backends/cli_backend.hpp"

#include "daemon/backends/turn_events_from_cli.hpp"
#include "daemon/process/child_process.hpp"
#include "protocol/claude_cli.hpp"
#include "protocol/claude_output.hpp"
#include "protocol/claude_stream_input.hpp"

#include <cstring>

namespace ksid::daemon {

namespace {

// The errc for a run that did not end on its own.
errc error_of(ChildOutcome::Status status, int spawn_errno, const CancellationToken& cancel) {
    using S = ChildOutcome::Status;
    switch (status) {
    case S::spawn_failed:
        return spawn_errno == ENOENT ? errc::claude_not_found : errc::spawn_failed;
    case S::timed_out:
        return errc::timed_out;
    case S::output_too_large:
        return errc::output_too_large;
    case S::cancelled:
        return cancel.reason();
    case S::exited:
    case S::signaled:
        break;
    }
    return errc::internal;
}

} // namespace

boost::asio::awaitable<TurnOutcome> CliBackend::run(const TurnRequest& request, const TurnEventSink& events,
                                                    std::shared_ptr<CancellationToken> cancel) {
    const bool stream = request.output == TurnOutput::events;
    protocol::ClaudeInvocation inv;
    inv.model = request.model;
    inv.resume_session = request.resume_session;
    inv.enable_tools = request.enable_tools;
    inv.no_tools = request.no_tools;
    inv.format = stream ? protocol::ClaudeOutputFormat::stream_json : protocol::ClaudeOutputFormat::json;
    inv.append_system_prompt = request.append_system_prompt;
    inv.json_schema = request.json_schema;
    // Images go as content blocks: one stream-json user line, then stdin closes and the CLI ends after it.
    inv.stream_input = stream && !request.images.empty();
    ChildSpec spec;
    spec.argv = protocol::build_claude_argv(settings_.claude_command, inv);
    spec.cwd = settings_.working_directory;
    spec.stdin_data = inv.stream_input ? protocol::stream_input_user_line(request.prompt, request.images) : request.prompt;
    spec.max_output_bytes = settings_.max_output_bytes;
    spec.time_limit = request.time_limit;
    spec.kill_grace = settings_.kill_grace;

    // stream-json: each line becomes a turn event as it arrives; the result line becomes the answer.
    protocol::StreamJsonParser parser(settings_.max_output_bytes);
    std::vector<protocol::StreamEvent> parsed;
    std::optional<boost::json::object> result_line;
    auto deliver = [&] {
        for (auto& e : parsed) {
            if (e.kind == protocol::StreamEvent::Kind::result) {
                if (!result_line) result_line = std::move(e.object);
            } else if (auto event = turn_event_from_cli(e); event && events) {
                events(*event);
            }
        }
        parsed.clear();
    };
    if (stream)
        spec.on_stdout = [&](std::string_view bytes) {
            parser.feed(bytes, parsed);
            deliver();
        };

    ChildOutcome out = co_await run_child(std::move(spec), cancel);
    if (stream) {
        parser.finish(parsed);
        deliver();
    }

    TurnOutcome o;
    if (out.status == ChildOutcome::Status::spawn_failed) {
        o = TurnOutcome::failure(error_of(out.status, out.spawn_errno, *cancel),
                                 std::strerror(out.spawn_errno));
        o.spawn_errno = out.spawn_errno;
        co_return o;
    }
    o.started = true;
    if (out.status != ChildOutcome::Status::exited && out.status != ChildOutcome::Status::signaled) {
        o.error = error_of(out.status, 0, *cancel);
        o.detail =
            out.status == ChildOutcome::Status::timed_out
                ? "killed after " + std::to_string(request.time_limit.count() / 1000.0).substr(0, 6) + " s"
            : out.status == ChildOutcome::Status::output_too_large
                ? "output exceeded " + std::to_string(settings_.max_output_bytes) + " bytes"
                : std::string("cancelled");
    }
    if (stream) {
        if (result_line) {
            o.answer = answer_from_cli_result(std::move(*result_line));
        } else if (o.ok()) {
            std::string first = out.stderr_data.substr(0, out.stderr_data.find('\n'));
            if (first.size() > 300) first.resize(300);
            o.error = errc::no_result;
            o.detail = "claude ended without a result (exit status " + std::to_string(out.returncode()) +
                       ")" + (first.empty() ? std::string() : ": " + first);
        }
    } else if (o.ok()) {
        auto parsed_json = protocol::parse_claude_json_output(out.stdout_data);
        if (parsed_json.kind == protocol::ClaudeJsonOutput::Kind::object)
            o.answer = answer_from_cli_result(parsed_json.output);
    }
    o.process = ProcessOutput{stream ? std::string() : std::move(out.stdout_data), std::move(out.stderr_data),
                              out.returncode()};
    co_return o;
}

} // namespace ksid::daemon
