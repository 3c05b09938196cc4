#include "protocol/claude_stream_input.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace ksid::protocol {
namespace json = boost::json;

std::string stream_input_user_line(std::string_view prompt, const std::vector<ImageInput>& images) {
    json::value content(prompt);
    if (!images.empty()) {
        json::array blocks;
        if (!prompt.empty()) blocks.push_back(json::object{{"type", "text"}, {"text", prompt}});
        for (const auto& image : images) blocks.push_back(image_block(image));
        content = std::move(blocks);
    }
    const json::object line{{"type", "user"},
                            {"message", json::object{{"role", "user"}, {"content", std::move(content)}}},
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
