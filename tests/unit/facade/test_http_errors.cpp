#include "facade/http_errors.hpp"

#include <doctest/doctest.h>

using namespace ksid::facade;
using ksid::daemon::errc;

namespace {
std::string header(const HttpResponse& r, std::string_view name) {
    for (const auto& [n, v] : r.headers)
        if (n == name) return v;
    return "";
}
} // namespace

TEST_CASE("HTTP map: every ksid error's status, type and code") {
    struct Row {
        errc error;
        TurnErrorContext context;
        int status;
        std::string type;
        std::optional<std::string> code;
    };
    const std::vector<Row> rows = {
        {errc::queue_full, {}, 429, "rate_limit_error", {}},
        {errc::shutting_down, {}, 503, "service_unavailable_error", {}},
        {errc::shutting_down, {"", 0, true}, 502, "server_error", {}},
        {errc::cancelled, {}, 503, "service_unavailable_error", {}},
        {errc::invalid_model, {"unknown model 'x'"}, 404, "invalid_request_error", "model_not_found"},
        {errc::tools_disabled, {}, 400, "invalid_request_error", {}},
        {errc::loop_detected, {"loop"}, 508, "invalid_request_error", "loop_detected"},
        {errc::claude_not_found, {}, 503, "service_unavailable_error", {}},
        {errc::spawn_failed, {}, 503, "service_unavailable_error", {}},
        {errc::timed_out, {}, 504, "timeout_error", {}},
        {errc::upstream_timed_out, {}, 504, "timeout_error", {}},
        {errc::output_too_large, {}, 502, "server_error", {}},
        {errc::upstream_too_large, {}, 502, "server_error", {}},
        {errc::claude_error, {"Invalid API key"}, 502, "server_error", {}},
        {errc::no_result, {"claude ended without a result (exit status 1)"}, 502, "server_error", {}},
        {errc::upstream_failed, {"x", 500}, 502, "server_error", {}},
        {errc::upstream_failed, {"x", 0}, 502, "server_error", {}},
        {errc::upstream_failed, {"x", 400}, 400, "invalid_request_error", {}},
        {errc::upstream_failed, {"x", 429}, 429, "rate_limit_error", {}},
        {errc::upstream_failed, {"x", 508}, 508, "invalid_request_error", {}},
        {errc::io_failed, {}, 500, "server_error", {}},
        {errc::internal, {}, 500, "server_error", {}},
    };
    for (const auto& row : rows) {
        CAPTURE(static_cast<int>(row.error));
        CAPTURE(row.context.upstream_status);
        const auto e = openai_error_for(row.error, row.context);
        CHECK(e.status == row.status);
        CHECK(e.type == row.type);
        CHECK(e.code == row.code);
        CHECK_FALSE(e.message.empty());
    }
    CHECK(openai_error_for(errc::claude_error, {"Invalid API key"}).message ==
          "claude reported an error: Invalid API key");
    CHECK(openai_error_for(errc::upstream_failed, {"the upstream answered 400: bad", 400}).message ==
          "upstream: the upstream answered 400: bad");
    CHECK(openai_error_for(errc::invalid_model, {"unknown model 'x'"}).param == "model");
}

TEST_CASE("HTTP map: retry headers") {
    auto too_many = error_response(openai_error_for(errc::queue_full));
    CHECK(too_many.status == 429);
    CHECK(header(too_many, "Retry-After") == "1");
    CHECK(header(too_many, "retry-after-ms") == "1000");
    CHECK(header(too_many, "x-should-retry") == "");
    CHECK(header(error_response(openai_error_for(errc::tools_disabled)), "x-should-retry") == "false");
    CHECK(header(error_response(openai_error_for(errc::timed_out)), "x-should-retry") == "false"); // 504
    CHECK(header(error_response(openai_error_for(errc::no_result)), "x-should-retry") == "false"); // 502
    CHECK(header(error_response(openai_error_for(errc::shutting_down)), "x-should-retry") ==
          ""); // 503: retry
    CHECK(header(error_response({408, "invalid_request_error", "slow", {}, {}}), "x-should-retry") == "");
    const auto body = error_response(openai_error_for(errc::queue_full)).body;
    CHECK(body.find("\"type\":\"rate_limit_error\"") != std::string::npos);
}
