#include "protocol/client_tools.hpp"

#include "protocol/json_parse.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <set>

namespace ksid::protocol {
namespace json = boost::json;

namespace {

OpenAIError bad(std::string message, std::string param) {
    return OpenAIError{400, "invalid_request_error", std::move(message), std::move(param), std::nullopt};
}

bool valid_tool_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

// name, description and schema of one definition, wherever the API keeps them.
boost::system::result<ClientTool, OpenAIError> tool_of(const json::object& o, const char* schema_key,
                                                       const std::string& param) {
    ClientTool t;
    const auto* name = o.if_contains("name");
    if (!name || !name->is_string() || !valid_tool_name(name->get_string()))
        return bad("tool names are 1 to 64 letters, digits, '_' or '-'", param + ".name");
    t.name = std::string(name->get_string());
    if (const auto* d = o.if_contains("description"); d && !d->is_null()) {
        if (!d->is_string()) return bad("description must be a string", param + ".description");
        t.description = std::string(d->get_string());
    }
    const auto* schema = o.if_contains(schema_key);
    if (schema && !schema->is_null()) {
        if (!schema->is_object()) return bad("must be a JSON Schema object", param + "." + schema_key);
        t.input_schema = schema->get_object();
    }
    // MCP wants an object schema; a function without parameters takes none.
    if (t.input_schema.empty()) t.input_schema = {{"type", "object"}, {"properties", json::object()}};
    const auto* type = t.input_schema.if_contains("type");
    if (!type || !type->is_string() || type->get_string() != "object")
        return bad("the input schema's type must be \"object\"", param + "." + schema_key + ".type");
    return t;
}

boost::system::result<std::vector<ClientTool>, OpenAIError>
parse_tools(const json::value& tools, bool openai) {
    if (!tools.is_array()) return bad("tools must be an array", "tools");
    const auto& list = tools.get_array();
    if (list.size() > max_client_tools)
        return bad("at most " + std::to_string(max_client_tools) + " tools per request", "tools");
    if (json::serialize(tools).size() > max_client_tools_bytes)
        return bad("tool definitions are limited to " + std::to_string(max_client_tools_bytes / 1024) +
                       " KiB in total",
                   "tools");
    std::vector<ClientTool> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto param = "tools[" + std::to_string(i) + "]";
        if (!list[i].is_object()) return bad("each tool must be an object", param);
        const auto& o = list[i].get_object();
        const auto type = string_at(o, "type");
        boost::system::result<ClientTool, OpenAIError> tool = ClientTool{};
        if (openai) {
            if (type != "function")
                return bad("only tools of type 'function' are supported", param + ".type");
            const auto* f = o.if_contains("function");
            if (!f || !f->is_object()) return bad("function must be an object", param + ".function");
            tool = tool_of(f->get_object(), "parameters", param + ".function");
        } else {
            if (!type.empty() && type != "custom")
                return bad("server tools ('" + std::string(type) +
                               "') are not supported: ksid serves client tools, which the client runs",
                           param + ".type");
            tool = tool_of(o, "input_schema", param);
        }
        if (!tool) return tool.error();
        for (const auto& seen : out)
            if (seen.name == tool->name) return bad("tool names must be unique", param + ".name");
        out.push_back(std::move(*tool));
    }
    return out;
}

std::string line_of(const json::object& o) { return json::serialize(o) + "\n"; }

json::object success(std::string_view request_id, json::object response) {
    return {{"type", "control_response"},
            {"response",
             json::object{{"subtype", "success"}, {"request_id", request_id}, {"response", std::move(response)}}}};
}

} // namespace

boost::system::result<std::vector<ClientTool>, OpenAIError> parse_openai_tools(const json::value& tools) {
    return parse_tools(tools, true);
}

boost::system::result<std::vector<ClientTool>, OpenAIError> parse_anthropic_tools(const json::value& tools) {
    return parse_tools(tools, false);
}

std::string client_tools_key(const std::vector<ClientTool>& tools) {
    if (tools.empty()) return {};
    return json::serialize(mcp_tools_list_result(tools));
}

std::string client_tools_mcp_config() {
    const json::object server{{"type", "sdk"}, {"name", client_tool_server}};
    return json::serialize(json::object{{"mcpServers", json::object{{client_tool_server, server}}}});
}

std::optional<std::string_view> client_tool_name(std::string_view model_name) {
    if (!model_name.starts_with(client_tool_prefix) || model_name.size() == client_tool_prefix.size())
        return std::nullopt;
    return model_name.substr(client_tool_prefix.size());
}

std::optional<std::string> tool_results_problem(const std::vector<ClientToolCall>& calls,
                                                const std::vector<ClientToolResult>& results) {
    std::set<std::string_view> awaited, answered;
    for (const auto& c : calls) awaited.insert(c.id);
    for (const auto& r : results) {
        if (!awaited.count(r.tool_use_id))
            return "the tool result for '" + r.tool_use_id + "' answers none of the calls it follows";
        if (!answered.insert(r.tool_use_id).second) return "two tool results for call '" + r.tool_use_id + "'";
    }
    for (const auto& id : awaited)
        if (!answered.count(id)) return "no tool result for call '" + std::string(id) + "' (every call needs one)";
    return std::nullopt;
}

std::optional<ControlRequest> parse_control_request(const json::object& line) {
    ControlRequest r;
    r.request_id = std::string(string_at(line, "request_id"));
    if (r.request_id.empty()) return std::nullopt;
    const auto* request = object_at(line, "request");
    if (!request) return r;
    r.subtype = std::string(string_at(*request, "subtype"));
    if (r.subtype != "mcp_message") return r;
    const auto* message = object_at(*request, "message");
    r.kind = ControlRequest::Kind::mcp_other;
    if (!message) return r;
    if (const auto* id = message->if_contains("id")) r.rpc_id = *id;
    if (string_at(*request, "server_name") != client_tool_server) return r;
    const auto method = string_at(*message, "method");
    const auto* params = object_at(*message, "params");
    if (!message->contains("id")) {
        r.kind = ControlRequest::Kind::mcp_notification;
    } else if (method == "initialize") {
        r.kind = ControlRequest::Kind::mcp_initialize;
        if (params) r.protocol_version = std::string(string_at(*params, "protocolVersion"));
    } else if (method == "tools/list") {
        r.kind = ControlRequest::Kind::mcp_tools_list;
    } else if (method == "tools/call" && params) {
        r.kind = ControlRequest::Kind::mcp_tools_call;
        r.name = std::string(string_at(*params, "name"));
        if (const auto* a = params->if_contains("arguments")) r.arguments = *a;
        if (const auto* meta = object_at(*params, "_meta"))
            r.tool_use_id = std::string(string_at(*meta, "claudecode/toolUseId"));
    }
    return r;
}

std::string mcp_result_line(const ControlRequest& request, json::value result) {
    json::object rpc{{"jsonrpc", "2.0"}, {"result", std::move(result)}};
    if (!request.rpc_id.is_null()) rpc["id"] = request.rpc_id;
    return line_of(success(request.request_id, json::object{{"mcp_response", std::move(rpc)}}));
}

std::string mcp_error_line(const ControlRequest& request, int code, std::string_view message) {
    json::object rpc{{"jsonrpc", "2.0"},
                     {"id", request.rpc_id},
                     {"error", json::object{{"code", code}, {"message", message}}}};
    return line_of(success(request.request_id, json::object{{"mcp_response", std::move(rpc)}}));
}

std::string control_error_line(std::string_view request_id, std::string_view message) {
    return line_of({{"type", "control_response"},
                    {"response", json::object{{"subtype", "error"}, {"request_id", request_id}, {"error", message}}}});
}

json::object mcp_initialize_result(std::string_view protocol_version) {
    return {{"protocolVersion", protocol_version.empty() ? std::string_view("2025-06-18") : protocol_version},
            {"capabilities", json::object{{"tools", json::object()}}},
            {"serverInfo", json::object{{"name", client_tool_server}, {"version", "1.0.0"}}}};
}

json::object mcp_tools_list_result(const std::vector<ClientTool>& tools) {
    json::array list;
    for (const auto& t : tools) {
        json::object o{{"name", t.name}, {"inputSchema", t.input_schema}};
        if (!t.description.empty()) o["description"] = t.description;
        list.push_back(std::move(o));
    }
    return {{"tools", std::move(list)}};
}

json::object mcp_tool_call_result(const ClientToolResult& result) {
    json::array content;
    if (!result.content.empty() || result.images.empty())
        content.push_back(json::object{{"type", "text"}, {"text", result.content}});
    for (const auto& image : result.images) // MCP image content: base64 data and its media type
        content.push_back(json::object{{"type", "image"}, {"data", image.data}, {"mimeType", image.media_type}});
    return {{"content", std::move(content)}, {"isError", result.is_error}};
}

} // namespace ksid::protocol
