#pragma once
// The values client tools are made of, shared by the requests of both APIs (protocol/openai_chat,
// protocol/anthropic_messages), the turn (daemon/turns) and the MCP server of protocol/client_tools.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "protocol/image_input.hpp"

#include <string>
#include <vector>

namespace ksid::protocol {

struct ClientTool {
    std::string name; // the client's: letters, digits, '_', '-'; at most 64
    std::string description;
    boost::json::object input_schema; // a JSON Schema object ({"type":"object",...})
};

// A tool call the model made, in the client's names.
struct ClientToolCall {
    std::string id; // the model's tool_use id (toolu_...), which the client's result names
    std::string name;
    boost::json::value input;
};

// A result the client sent back for a call.
struct ClientToolResult {
    std::string tool_use_id;
    std::string content;
    bool is_error = false;
    std::vector<ImageInput> images; // base64 images the tool returned (a screenshot, an image file read)
};

} // namespace ksid::protocol
