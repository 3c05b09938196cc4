// libFuzzer target: the API shim's reading of an upstream's answer: SSE chunks translated to the CLI's
// stream events (in any chunking), a whole completion, error bodies, Retry-After and base URLs.
#include "protocol/openai_upstream.hpp"
#include "protocol/stream_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::protocol;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const ShimFields fields{"sonnet", "t", std::string("agent")};
    UpstreamStreamTranslator translator(std::string(input.substr(0, 36)), fields, 1 << 16);
    std::vector<StreamEvent> events{translator.init_event()};
    const std::size_t step = size ? 1 + data[0] % 64 : 1;
    for (std::size_t i = 0; i < size; i += step)
        translator.feed(input.substr(i, step), events);
    // The translation is an init event, then non-empty text deltas, counted in output_bytes.
    std::size_t counted = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const bool ok = i == 0 ? events[i].kind == StreamEvent::Kind::init
                               : events[i].kind == StreamEvent::Kind::text_delta && !events[i].text.empty();
        if (!ok) __builtin_trap();
        if (i > 0) counted += events[i].text.size() + 96;
    }
    if (counted != translator.output_bytes()) __builtin_trap();
    (void)translator.finish(1);
    (void)cli_result_from_completion(input, std::nullopt, fields, 1);
    (void)upstream_error_message(input);
    (void)parse_retry_after(input.substr(0, 40), input.substr(size / 2, 8), std::chrono::system_clock::now());
    (void)parse_upstream_base(input.substr(0, 200));
    return 0;
}
