// libFuzzer target: the API shim's reading of an upstream's answer in both wire formats (OpenAI Chat
// Completions, Anthropic Messages): SSE translated to the CLI's stream events (in any chunking), a whole
// completion or message, error bodies, Retry-After and base URLs.
#include "protocol/anthropic_upstream.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/stream_json.hpp"
#include "protocol/upstream_format.hpp"

namespace {

using namespace ksid::protocol;

// The translation is an init event, then non-empty text deltas, counted in output_bytes.
void translate(UpstreamProvider provider, std::string_view input, std::size_t step,
               const ShimFields& fields) {
    auto translator = upstream_stream_translator(provider, std::string(input.substr(0, 36)), fields, 1 << 16);
    std::vector<StreamEvent> events{translator->init_event()};
    for (std::size_t i = 0; i < input.size(); i += step)
        translator->feed(input.substr(i, step), events);
    std::size_t counted = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const bool ok = i == 0 ? events[i].kind == StreamEvent::Kind::init
                               : events[i].kind == StreamEvent::Kind::text_delta && !events[i].text.empty();
        if (!ok) __builtin_trap();
        if (i > 0) counted += events[i].text.size() + 96;
    }
    if (counted != translator->output_bytes()) __builtin_trap();
    auto last = translator->finish(1);
    if (last && !last->contains("type")) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const ShimFields fields{"sonnet", "t", std::string("agent")};
    const std::size_t step = size ? 1 + data[0] % 64 : 1;
    translate(UpstreamProvider::openai, input, step, fields);
    translate(UpstreamProvider::anthropic, input, step, fields);
    (void)cli_result_from_completion(input, std::nullopt, fields, 1);
    (void)cli_result_from_message(input, std::nullopt, fields, 1);
    (void)upstream_error_message(input);
    (void)parse_retry_after(input.substr(0, 40), input.substr(size / 2, 8), std::chrono::system_clock::now());
    if (auto base = parse_upstream_base(input.substr(0, 200))) (void)anthropic_target(base->path);
    return 0;
}
