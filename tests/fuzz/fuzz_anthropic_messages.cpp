// libFuzzer target: Anthropic messages request validation and rendering, and the SSE stream encoder. The
// first byte picks the part; for the encoder the rest is a script of calls (start, text, end of a CLI
// message, a whole message, ping, finish), whose output is read back with the SSE parser and must be a
// valid Anthropic stream: message_start first, blocks numbered from 0 in order, every delta inside an open
// block, every block closed, message_delta then message_stop last.
#include "protocol/anthropic_messages.hpp"
#include "protocol/sse_parser.hpp"
#include "protocol/utf8.hpp"

#include <boost/json/parse.hpp>

namespace {

void check_stream(std::string_view script) {
    using namespace ksid::protocol;
    MessageStreamEncoder enc("msg_1", "sonnet",
                             script.size() % 3 ? std::optional<std::string>("s") : std::nullopt);
    std::string out = enc.start();
    for (std::size_t i = 0; i < script.size(); ++i) {
        const unsigned char op = static_cast<unsigned char>(script[i]);
        std::string_view text = script.substr(i, op % 7);
        while (!text.empty() && !is_valid_utf8(text)) // not cut inside a character
            text.remove_suffix(1);
        switch (op % 4) {
        case 0:
            out += enc.text(text);
            break;
        case 1:
            out += enc.end_block();
            break;
        case 2:
            out += enc.whole_text(text);
            break;
        default:
            out += MessageStreamEncoder::ping();
            break;
        }
    }
    out += enc.finish(script.substr(0, script.size() / 2), "end_turn", nullptr);
    SseParser parser;
    std::vector<SseEvent> events;
    parser.feed(out, events);
    if (events.size() < 3 || events.front().event != "message_start" ||
        events.back().event != "message_stop" || events[events.size() - 2].event != "message_delta")
        __builtin_trap();
    long long next = 0, open = -1;
    for (const auto& e : events) {
        const auto v = boost::json::parse(e.data); // every data line is JSON
        if (v.at("type").as_string() != e.event) __builtin_trap();
        if (e.event == "content_block_start") {
            if (open != -1 || v.at("index").as_int64() != next) __builtin_trap();
            open = next++;
        } else if (e.event == "content_block_delta") {
            if (v.at("index").as_int64() != open) __builtin_trap();
        } else if (e.event == "content_block_stop") {
            if (v.at("index").as_int64() != open) __builtin_trap();
            open = -1;
        } else if (e.event == "message_delta" && open != -1) {
            __builtin_trap();
        }
    }
    if (next != enc.blocks()) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::protocol;
    if (size == 0) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2) {
        // The encoder's text comes from parsed JSON (the CLI's lines, an upstream's events): valid UTF-8.
        if (ksid::protocol::is_valid_utf8(input)) check_stream(input);
        return 0;
    }
    const auto endpoint = data[0] % 4 ? MessagesEndpoint::count_tokens : MessagesEndpoint::create;
    auto request = parse_messages_request(input, std::nullopt, endpoint);
    if (!request) {
        (void)anthropic_error_body(request.error());
        return 0;
    }
    if (estimate_input_tokens(*request) < 1) __builtin_trap();
    auto rendered = render_chat_prompt(request->chat);
    (void)message_body("msg_1", request->chat.model, rendered.prompt, "end_turn", nullptr, std::nullopt);
    return 0;
}
