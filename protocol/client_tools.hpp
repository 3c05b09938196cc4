#pragma once
// Client tools (a request's `tools`) served through the claude CLI's in-band "SDK" MCP server, sans I/O:
// the tool definitions of both APIs, the --mcp-config that names the server, and the control protocol the
// CLI speaks for it on a stream-json process (`control_request` `mcp_message` carrying JSON-RPC on stdout,
// `control_response` on stdin; the Agent SDKs implement the same). The model sees a client tool `NAME` as
// `mcp__client__NAME`; what ksid tells the client uses the client's own name.
#include "protocol/client_tool_types.hpp"
#include "protocol/openai_chat.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

inline constexpr std::string_view client_tool_server = "client";
inline constexpr std::string_view client_tool_prefix = "mcp__client__";
inline constexpr std::size_t max_client_tools = 128;
inline constexpr std::size_t max_client_tools_bytes = 256 * 1024; // their definitions, serialized

// OpenAI `tools`: [{"type":"function","function":{"name","description","parameters"}}].
boost::system::result<std::vector<ClientTool>, OpenAIError> parse_openai_tools(const boost::json::value& tools);
// Anthropic `tools`: [{"name","description","input_schema"}] (type absent or "custom"; server tools such as
// web_search are refused: the CLI cannot run the API's server tools for a client).
boost::system::result<std::vector<ClientTool>, OpenAIError>
parse_anthropic_tools(const boost::json::value& tools);

// One string that is equal for equal tool sets (in the client's order, which the CLI keeps: its system
// prompt, and so the API's prompt cache, stay the same between rounds). "" for none.
std::string client_tools_key(const std::vector<ClientTool>& tools);
// The --mcp-config value that declares the server.
std::string client_tools_mcp_config();
// `mcp__client__NAME` → NAME; nullopt for a name that is not a client tool's.
std::optional<std::string_view> client_tool_name(std::string_view model_name);

// Why `results` do not answer exactly `calls` (a result per call, none for another); nullopt when they do.
std::optional<std::string> tool_results_problem(const std::vector<ClientToolCall>& calls,
                                                const std::vector<ClientToolResult>& results);

// A `control_request` line of the CLI, as ksid answers it.
struct ControlRequest {
    enum class Kind {
        mcp_initialize,   // JSON-RPC initialize for the client server
        mcp_notification, // a JSON-RPC notification (no id): acknowledged
        mcp_tools_list,
        mcp_tools_call, // name, arguments, tool_use_id
        mcp_other,      // another JSON-RPC method, or another server: answered "method not found"
        unsupported,    // another subtype (can_use_tool, hook_callback, ...): answered with an error
    };
    Kind kind = Kind::unsupported;
    std::string request_id;
    std::string subtype;
    boost::json::value rpc_id;     // the JSON-RPC id (null for notifications)
    std::string protocol_version;  // initialize
    std::string name;              // tools/call: the client's tool name
    boost::json::value arguments;  // tools/call
    std::string tool_use_id;       // tools/call: _meta["claudecode/toolUseId"]
};

// Reads a `{"type":"control_request",...}` line; nullopt when it has no request_id.
std::optional<ControlRequest> parse_control_request(const boost::json::object& line);

// The stdin lines that answer one: a JSON-RPC result or error inside a success response, or an error.
std::string mcp_result_line(const ControlRequest& request, boost::json::value result);
std::string mcp_error_line(const ControlRequest& request, int code, std::string_view message);
std::string control_error_line(std::string_view request_id, std::string_view message);

boost::json::object mcp_initialize_result(std::string_view protocol_version);
boost::json::object mcp_tools_list_result(const std::vector<ClientTool>& tools);
boost::json::object mcp_tool_call_result(const ClientToolResult& result);

} // namespace ksid::protocol
