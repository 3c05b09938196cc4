#include "protocol/legacy_reply.hpp"

#include "protocol/python_json.hpp"

namespace ksid::protocol {

std::string encode_success_reply(std::string_view command, const boost::json::object& result) {
    std::string out = "{\"status\": \"success\", \"command\": ";
    append_python_json_string(out, command);
    out += ", \"result\": ";
    append_python_json(out, result);
    out += "}\n";
    return out;
}

std::string encode_error_reply(std::string_view code, std::string_view message,
                               std::optional<std::string_view> timestamp) {
    std::string out = "{\"status\": \"error\", \"error\": {\"code\": ";
    append_python_json_string(out, code);
    out += ", \"message\": ";
    append_python_json_string(out, message);
    if (timestamp) {
        out += ", \"timestamp\": ";
        append_python_json_string(out, *timestamp);
    }
    out += "}}\n";
    return out;
}

} // namespace ksid::protocol
