#include "protocol/claude_cli.hpp"
#include "protocol/claude_stream_input.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

using namespace ksid::protocol;
namespace json = boost::json;

TEST_CASE("stream input: a user turn and an interrupt, one line each") {
    const auto line = stream_input_user_line("hi \"there\"\nsecond line");
    REQUIRE(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1); // the prompt's newline is escaped: one line
    const auto o = json::parse(line).as_object();
    CHECK(o.at("type") == "user");
    CHECK(o.at("message").at("role") == "user");
    CHECK(o.at("message").at("content") == "hi \"there\"\nsecond line");
    CHECK(o.at("parent_tool_use_id").is_null());
    CHECK(o.at("session_id") == "default");
    const auto i = json::parse(stream_input_interrupt_line("req_7")).as_object();
    CHECK(i.at("type") == "control_request");
    CHECK(i.at("request_id") == "req_7");
    CHECK(i.at("request").at("subtype") == "interrupt");
}

TEST_CASE("stream input: a user turn with images: the text, then an image block each") {
    const std::vector<ImageInput> images{{"image/png", "iVBORw0KGgo=", "", 8}, {"", "", "https://example.com/a.png", 0}};
    const auto o = json::parse(stream_input_user_line("look", images)).as_object();
    CHECK(o.at("message").at("content") == json::parse(R"([{"type":"text","text":"look"},
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
        {"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}])"));
    const auto only = json::parse(stream_input_user_line("", {images[0]})).as_object();
    CHECK(only.at("message").at("content").as_array().size() == 1); // no empty text block
}

TEST_CASE("argv of a persistent process") {
    ClaudeInvocation inv;
    inv.model = "sonnet";
    inv.stream_input = true;
    inv.enable_tools = false;
    inv.resume_session = "s-1";
    inv.append_system_prompt = "be brief";
    CHECK(build_claude_argv("claude", inv) ==
          std::vector<std::string>{"claude", "--model", "sonnet", "--print", "--input-format", "stream-json",
                                   "--output-format", "stream-json", "--verbose",
                                   "--include-partial-messages", "--append-system-prompt=be brief",
                                   "--resume=s-1"});
    inv.no_tools = true; // tools off means none
    CHECK(build_claude_argv("claude", inv) ==
          std::vector<std::string>{"claude", "--model", "sonnet", "--print", "--input-format", "stream-json",
                                   "--output-format", "stream-json", "--verbose",
                                   "--include-partial-messages", "--append-system-prompt=be brief", "--tools",
                                   "", "--strict-mcp-config", "--resume=s-1"});
    inv.no_tools = false;
    inv.stream_input = false; // the legacy form is unchanged
    inv.append_system_prompt.clear();
    CHECK(build_claude_argv("claude", inv) == std::vector<std::string>{"claude", "--model", "sonnet",
                                                                       "--print", "--output-format", "json",
                                                                       "--resume", "s-1"});
}
