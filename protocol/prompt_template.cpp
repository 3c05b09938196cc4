#include "protocol/prompt_template.hpp"

#include "protocol/python_format.hpp"

namespace ksid::protocol {
namespace json = boost::json;

json::object merge_variables(const json::object& vars, const json::object& context) {
    json::object merged = vars;
    for (const auto& kv : context) merged[kv.key()] = kv.value(); // replaces in place, or appends
    return merged;
}

std::string substitute_variables(std::string text, const json::object& variables) {
    for (const auto& kv : variables) {
        const std::string placeholder = "{{" + std::string(kv.key()) + "}}";
        if (text.find(placeholder) == std::string::npos) continue;
        const std::string value = python_str(kv.value());
        std::size_t pos = 0;
        while ((pos = text.find(placeholder, pos)) != std::string::npos) {
            text.replace(pos, placeholder.size(), value);
            pos += value.size();
        }
    }
    return text;
}

} // namespace ksid::protocol
