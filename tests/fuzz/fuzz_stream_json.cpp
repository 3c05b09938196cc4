// libFuzzer target: the incremental stream-json parser and the json-output interpretation of SPAWN.
#include "protocol/claude_output.hpp"
#include "protocol/stream_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::protocol;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    StreamJsonParser parser(1 << 16);
    std::vector<StreamEvent> events;
    const std::size_t chunk = size % 13 + 1;
    for (std::size_t i = 0; i < input.size(); i += chunk) parser.feed(input.substr(i, chunk), events);
    parser.finish(events);
    auto parsed = parse_claude_json_output(input);
    (void)sync_spawn_result(parsed, input.substr(0, size / 2), 1, input);
    if (parsed.kind == ClaudeJsonOutput::Kind::object) (void)claude_log_line(parsed.output, "T");
    return 0;
}
