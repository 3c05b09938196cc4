// libFuzzer target: OpenAI chat request validation, prompt rendering and the response builders.
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
    (void)sse_event(chat_chunk_body("id", 1, request->model, {{"content", rendered.system_prompt}}, std::nullopt));
    return 0;
}
