#include "protocol/claude_stream_input.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace ksid::protocol {
namespace json = boost::json;

std::string stream_input_user_line(std::string_view prompt) {
    const json::object line{{"type", "user"},
                            {"message", json::object{{"role", "user"}, {"content", prompt}}},
                            {"parent_tool_use_id", nullptr},
                            {"session_id", "default"}};
    return json::serialize(line) + "\n";
}

std::string stream_input_interrupt_line(std::string_view request_id) {
    const json::object line{{"type", "control_request"},
                            {"request_id", request_id},
                            {"request", json::object{{"subtype", "interrupt"}}}};
    return json::serialize(line) + "\n";
}

} // namespace ksid::protocol
