#include "protocol/prompt_template.hpp"

#include "protocol/python_format.hpp"

namespace ksid::protocol {
namespace json = boost::json;

json::object merge_variables(const json::object& vars, const json::object& context) {
    json::object merged = vars;
    for (const auto& kv : context) merged[kv.key()] = kv.value(); // replaces in place, or appends
    return merged;
}

std::string replace_all(std::string_view text, std::string_view needle, std::string_view value) {
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = text.find(needle, pos)) != std::string_view::npos; pos = hit + needle.size()) {
        out.append(text.substr(pos, hit - pos));
        out.append(value);
    }
    out.append(text.substr(pos));
    return out;
}

bool substitute_variables(std::string& text, const json::object& variables, std::size_t max_bytes) {
    std::string work = text;
    for (const auto& kv : variables) {
        const std::string placeholder = "{{" + std::string(kv.key()) + "}}";
        const auto first = work.find(placeholder);
        if (first == std::string::npos) continue;
        const std::string value = python_str(kv.value());
        if (value.size() > placeholder.size()) { // bound the growth before building the text
            std::size_t hits = 0;
            for (auto p = first; p != std::string::npos; p = work.find(placeholder, p + placeholder.size())) ++hits;
            if (work.size() + hits * (value.size() - placeholder.size()) > max_bytes) return false;
        }
        work = replace_all(work, placeholder, value);
    }
    text = std::move(work);
    return true;
}

} // namespace ksid::protocol
