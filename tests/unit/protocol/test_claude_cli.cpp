#include "protocol/claude_cli.hpp"
#include "protocol/reserved_names.hpp"

#include <doctest/doctest.h>

using namespace ksid::protocol;
using V = std::vector<std::string>;

TEST_CASE("the legacy argv, in order, with the tool list as one element") {
    ClaudeInvocation inv;
    inv.model = "sonnet";
    CHECK(build_claude_argv("claude", inv) ==
          V{"claude", "--model", "sonnet", "--print", "--output-format", "json", "--allowedTools",
            "Task Bash Glob Grep LS Read Edit MultiEdit Write WebFetch WebSearch"});
    inv.enable_tools = false;
    inv.resume_session = "abc-123";
    CHECK(build_claude_argv("claude", inv) ==
          V{"claude", "--model", "sonnet", "--print", "--output-format", "json", "--resume", "abc-123"});
    inv.resume_session = "";
    CHECK(build_claude_argv("claude", inv).size() == 6); // an empty session id means no --resume
}

TEST_CASE("stream-json argv") {
    ClaudeInvocation inv;
    inv.model = "opus";
    inv.enable_tools = false;
    inv.format = ClaudeOutputFormat::stream_json;
    CHECK(build_claude_argv("/usr/bin/claude", inv) == V{"/usr/bin/claude", "--model", "opus", "--print",
                                                         "--output-format", "stream-json", "--verbose",
                                                         "--include-partial-messages"});
}

TEST_CASE("session ids that could inject flags or escape claude_logs/ are invalid") {
    CHECK(is_valid_session_id("ca6b0aeb-fb74-4f74-8fd7-8865ff6e4c77"));
    CHECK(is_valid_session_id("sess-1111"));
    CHECK(is_valid_session_id("a_b.c:d"));
    CHECK_FALSE(is_valid_session_id(""));
    CHECK_FALSE(is_valid_session_id("--dangerously-skip-permissions"));
    CHECK_FALSE(is_valid_session_id("-x"));
    CHECK_FALSE(is_valid_session_id("../etc/passwd"));
    CHECK_FALSE(is_valid_session_id("a/b"));
    CHECK_FALSE(is_valid_session_id(".hidden"));
    CHECK_FALSE(is_valid_session_id("a b"));
    CHECK_FALSE(is_valid_session_id(std::string("a\0b", 3)));
    CHECK_FALSE(is_valid_session_id(std::string(129, 'a')));
}

TEST_CASE("session ids that name ksid's own files in claude_logs/ are invalid, but stay safe identifiers") {
    for (auto name : {"latest", "message_bus", "task_routing"}) {
        CHECK_FALSE(is_valid_session_id(name));
        CHECK(is_safe_identifier(name)); // agent ids may still be called so: they name no file
        CHECK(session_id_rules().find(name) != std::string::npos);
    }
    CHECK(reserved_session_ids.size() == 3);
    CHECK(is_valid_session_id("latest2"));
    CHECK(is_valid_session_id("message_bus.x"));
    CHECK(is_valid_session_id("Latest"));
    CHECK_FALSE(is_safe_identifier("-x"));
}

TEST_CASE("model names") {
    CHECK(is_valid_model_name("sonnet"));
    CHECK(is_valid_model_name("claude-sonnet-4-5-20250929"));
    CHECK(is_valid_model_name("claude-opus-4[1m]"));
    CHECK_FALSE(is_valid_model_name("--print"));
    CHECK_FALSE(is_valid_model_name(""));
    CHECK_FALSE(is_valid_model_name("sonnet; rm -rf /"));
    CHECK_FALSE(is_valid_model_name("a/b"));
}
