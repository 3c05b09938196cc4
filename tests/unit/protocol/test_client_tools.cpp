#include "protocol/client_tools.hpp"

#include "protocol/claude_cli.hpp"
#include "protocol/image_input.hpp"
#include "protocol/json_parse.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace ksid::protocol;
namespace json = boost::json;

namespace {
json::object line(std::string_view text) { return json::parse(text).as_object(); }
json::object reply(const std::string& text) {
    CHECK(text.back() == '\n');
    return json::parse(text).as_object();
}
} // namespace

TEST_CASE("client_tools: names, key and the server's config") {
    CHECK(client_tool_name("mcp__client__get_weather") == std::optional<std::string_view>("get_weather"));
    CHECK_FALSE(client_tool_name("mcp__client__").has_value());
    CHECK_FALSE(client_tool_name("Bash").has_value());
    CHECK_FALSE(client_tool_name("mcp__other__x").has_value());
    CHECK(json::parse(client_tools_mcp_config()) ==
          json::parse(R"({"mcpServers":{"client":{"type":"sdk","name":"client"}}})"));
    auto a = parse_openai_tools(json::parse(R"([{"type":"function","function":{"name":"a"}},
                                                 {"type":"function","function":{"name":"b"}}])"));
    auto b = parse_anthropic_tools(json::parse(R"([{"name":"a","input_schema":{"type":"object","properties":{}}},
                                                    {"name":"b","input_schema":{"type":"object","properties":{}}}])"));
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(client_tools_key(*a) == client_tools_key(*b)); // the same tools either way
    CHECK(client_tools_key({}).empty());
    std::swap((*b)[0], (*b)[1]);
    CHECK(client_tools_key(*a) != client_tools_key(*b)); // order is part of what the model sees
}

TEST_CASE("client_tools: bounds") {
    json::array many;
    for (int i = 0; i < 129; ++i)
        many.push_back(json::object{{"name", "t" + std::to_string(i)}, {"input_schema", json::object{{"type", "object"}}}});
    CHECK_FALSE(parse_anthropic_tools(many).has_value());
    json::array big{json::object{{"name", "t"}, {"description", std::string(300 * 1024, 'x')}}};
    auto refused = parse_anthropic_tools(big);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().message.find("KiB") != std::string::npos);
}

TEST_CASE("client_tools: the argv of a process that serves them") {
    ClaudeInvocation inv;
    inv.model = "sonnet";
    inv.stream_input = true;
    inv.format = ClaudeOutputFormat::stream_json;
    inv.enable_tools = false;
    inv.no_tools = true;
    inv.client_tools = true;
    const auto argv = build_claude_argv("claude", inv);
    auto after = [&](std::string_view flag) {
        for (std::size_t i = 0; i + 1 < argv.size(); ++i)
            if (argv[i] == flag) return argv[i + 1];
        return std::string("<absent>");
    };
    CHECK(after("--tools") == "");
    CHECK(after("--allowedTools") == "mcp__client");
    CHECK(after("--mcp-config") == client_tools_mcp_config());
    CHECK(std::count(argv.begin(), argv.end(), "--strict-mcp-config") == 1);
    inv.enable_tools = true;
    CHECK(build_claude_argv("claude", inv) != argv);
    const auto with_builtins = build_claude_argv("claude", inv);
    CHECK(std::find(with_builtins.begin(), with_builtins.end(), std::string(legacy_allowed_tools) + " mcp__client") !=
          with_builtins.end());
}

TEST_CASE("client_tools: the CLI's control requests, as recorded from Claude Code 2.1.330") {
    auto init = parse_control_request(line(R"({"type":"control_request","request_id":"r1","request":{"subtype":"mcp_message",
        "server_name":"client","message":{"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}},
        "jsonrpc":"2.0","id":0}}})"));
    REQUIRE(init.has_value());
    CHECK(init->kind == ControlRequest::Kind::mcp_initialize);
    auto r = reply(mcp_result_line(*init, mcp_initialize_result(init->protocol_version)));
    CHECK(r.at("type") == "control_response");
    CHECK(r.at("response").at("subtype") == "success");
    CHECK(r.at("response").at("request_id") == "r1");
    const auto& rpc = r.at("response").at("response").at("mcp_response").as_object();
    CHECK(rpc.at("id") == 0);
    CHECK(rpc.at("result").at("protocolVersion") == "2025-11-25");
    CHECK(rpc.at("result").at("capabilities").as_object().contains("tools"));

    auto note = parse_control_request(line(R"({"type":"control_request","request_id":"r2","request":{"subtype":"mcp_message",
        "server_name":"client","message":{"jsonrpc":"2.0","method":"notifications/initialized"}}})"));
    REQUIRE(note.has_value());
    CHECK(note->kind == ControlRequest::Kind::mcp_notification);
    CHECK_FALSE(reply(mcp_result_line(*note, json::object())).at("response").at("response").at("mcp_response").as_object().contains("id"));

    auto list = parse_control_request(line(R"({"type":"control_request","request_id":"r3","request":{"subtype":"mcp_message",
        "server_name":"client","message":{"method":"tools/list","jsonrpc":"2.0","id":1}}})"));
    REQUIRE(list.has_value());
    CHECK(list->kind == ControlRequest::Kind::mcp_tools_list);
    const std::vector<ClientTool> tools{{"get_weather", "Weather", {{"type", "object"}}}};
    auto listed = reply(mcp_result_line(*list, mcp_tools_list_result(tools)));
    const auto& t = listed.at("response").at("response").at("mcp_response").at("result").at("tools").as_array()[0];
    CHECK(t.at("name") == "get_weather");
    CHECK(t.at("description") == "Weather");
    CHECK(t.at("inputSchema").at("type") == "object");

    auto call = parse_control_request(line(R"({"type":"control_request","request_id":"r4","request":{"subtype":"mcp_message",
        "server_name":"client","message":{"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"},
        "_meta":{"claudecode/toolUseId":"toolu_ca8d","progressToken":2}},"jsonrpc":"2.0","id":2}}})"));
    REQUIRE(call.has_value());
    CHECK(call->kind == ControlRequest::Kind::mcp_tools_call);
    CHECK(call->name == "get_weather");
    CHECK(call->tool_use_id == "toolu_ca8d");
    CHECK(call->arguments == json::object{{"city", "Paris"}});
    auto answered = reply(mcp_result_line(*call, mcp_tool_call_result({"toolu_ca8d", "sunny", true, {}})));
    const auto& result = answered.at("response").at("response").at("mcp_response").at("result");
    CHECK(result.at("content").as_array()[0].at("text") == "sunny");
    CHECK(result.at("isError") == true);

    auto other_server = parse_control_request(line(R"({"type":"control_request","request_id":"r5","request":{
        "subtype":"mcp_message","server_name":"ide","message":{"method":"tools/list","jsonrpc":"2.0","id":7}}})"));
    REQUIRE(other_server.has_value());
    CHECK(other_server->kind == ControlRequest::Kind::mcp_other);
    auto err = reply(mcp_error_line(*other_server, -32601, "Method not found"));
    CHECK(err.at("response").at("response").at("mcp_response").at("error").at("code") == -32601);
    CHECK(err.at("response").at("response").at("mcp_response").at("id") == 7);

    auto permission = parse_control_request(line(R"({"type":"control_request","request_id":"r6","request":{"subtype":"can_use_tool"}})"));
    REQUIRE(permission.has_value());
    CHECK(permission->kind == ControlRequest::Kind::unsupported);
    auto refused = reply(control_error_line("r6", "no"));
    CHECK(refused.at("response").at("subtype") == "error");
    CHECK(refused.at("response").at("request_id") == "r6");

    CHECK_FALSE(parse_control_request(line(R"({"type":"control_request","request":{}})")).has_value());
}

TEST_CASE("image_input: base64 sizes, and the CLI's image blocks") {
    CHECK(base64_decoded_size("") == 0u);
    CHECK(base64_decoded_size("QQ==") == 1u);
    CHECK(base64_decoded_size("QUI=") == 2u);
    CHECK(base64_decoded_size("QUJD") == 3u);
    CHECK(base64_decoded_size("QUJDRA") == 4u); // padding left out
    CHECK_FALSE(base64_decoded_size("QUJDR").has_value());
    CHECK_FALSE(base64_decoded_size("QU=D").has_value());
    CHECK_FALSE(base64_decoded_size("QUJ\nD").has_value());
    std::string why;
    auto image = image_from_url("data:image/gif;base64,R0lGOD==", why);
    REQUIRE(image.has_value());
    CHECK(image_block(*image) == json::parse(R"({"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lGOD=="}})"));
    auto remote = image_from_url("https://example.com/x.png", why);
    REQUIRE(remote.has_value());
    CHECK(image_block(*remote) == json::parse(R"({"type":"image","source":{"type":"url","url":"https://example.com/x.png"}})"));
    CHECK_FALSE(image_from_url("https://example.com/a b.png", why).has_value());
}

TEST_CASE("client_tools: a tool result's images become MCP image content") {
    const ClientToolResult result{"toolu_1", "a screenshot", false, {{"image/png", "iVBORw0KGgo=", "", 8}}};
    const auto r = mcp_tool_call_result(result);
    CHECK(r.at("content") == json::parse(R"([{"type":"text","text":"a screenshot"},
        {"type":"image","data":"iVBORw0KGgo=","mimeType":"image/png"}])"));
    const ClientToolResult only_image{"toolu_2", "", false, {{"image/gif", "R0lGOD==", "", 4}}};
    CHECK(mcp_tool_call_result(only_image).at("content").as_array().size() == 1);
}
