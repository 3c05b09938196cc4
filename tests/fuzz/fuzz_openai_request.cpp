// libFuzzer target: OpenAI chat request validation, prompt rendering and the response builders; client tool
// results, and the structured-output schema check (which must never crash or run without bound).
#include "protocol/client_tools.hpp"
#include "protocol/json_schema_check.hpp"
#include "protocol/openai_chat.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::protocol;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto request = parse_chat_request(input, size % 2 ? std::optional<std::string_view>(input.substr(0, size / 3))
                                                      : std::nullopt);
    if (!request) {
        (void)openai_error_body(request.error());
        return 0;
    }
    auto rendered = render_chat_prompt(*request);
    (void)chat_completion_body("id", 1, request->model, rendered.prompt, "stop", nullptr);
    // Tool results and calls, and a structured-output schema (compiled at parse time) checking a value.
    const auto results = trailing_tool_results(*request);
    if (const auto* before = message_before_tool_results(*request)) {
        (void)tool_results_problem(before->tool_calls, results);
        (void)chat_completion_body("id", 1, request->model, "", "stop", nullptr, before->tool_calls);
    }
    if (request->output_schema) {
        auto check = JsonSchemaCheck::compile(*request->output_schema);
        if (!check) __builtin_trap(); // parse accepted it: it compiles
        (void)check->violations(boost::json::value(rendered.prompt));
    }
    (void)sse_event(chat_chunk_body("id", 1, request->model, {{"content", rendered.system_prompt}}, std::nullopt));
    return 0;
}
