// libFuzzer target: Anthropic messages request validation and rendering, and the SSE stream encoder. The
// first byte picks the part; for the encoder the rest is a script of calls (start, text, end of a CLI
// message, a whole message, ping, finish), whose output is read back with the SSE parser and must be a
// valid Anthropic stream: message_start first, blocks numbered from 0 in order (client tool_use blocks last),
// every delta inside an open block, every block closed, message_delta (stop reason tool_use exactly when
// there are calls) then message_stop last. A parsed request's tool results, images and stream-json line too.
#include "protocol/anthropic_messages.hpp"
#include "protocol/claude_stream_input.hpp"
#include "protocol/client_tools.hpp"
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
    std::vector<ClientToolCall> calls; // a message that ends with client tool calls: tool_use blocks last
    for (std::size_t n = 0; n < script.size() % 3; ++n)
        calls.push_back({"toolu_" + std::to_string(n), "t", boost::json::object{{"n", n}}});
    std::string_view final_text = script.substr(0, script.size() / 2);
    while (!final_text.empty() && !is_valid_utf8(final_text)) // valid UTF-8 here too, as from the CLI
        final_text.remove_suffix(1);
    out += enc.finish(final_text, "end_turn", nullptr, nullptr, calls);
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
        } else if (e.event == "message_delta") {
            if (open != -1) __builtin_trap();
            const auto stop = v.at("delta").at("stop_reason").as_string();
            if ((stop == "tool_use") != !calls.empty()) __builtin_trap();
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
    // Tool results, images and the stream-json line they make.
    const auto results = trailing_tool_results(request->chat);
    if (const auto* before = message_before_tool_results(request->chat))
        (void)tool_results_problem(before->tool_calls, results);
    const auto line = stream_input_user_line(rendered.prompt, rendered.images);
    if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) __builtin_trap();
    if (!request->chat.tools.empty()) (void)client_tools_key(request->chat.tools);
    return 0;
}
