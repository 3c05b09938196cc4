// The composer (spec §8): checks a composition's required context, evaluates each component's condition,
// and joins the substituted components into one prompt, failing with the legacy error replies.
#include "daemon/services/composition_library.hpp"

#include "daemon/services/composition_internal.hpp"
#include "protocol/prompt_template.hpp"
#include "protocol/python_condition.hpp"
#include "protocol/python_format.hpp"

#include <algorithm>

namespace ksid::daemon {
namespace json = boost::json;

using detail::type_name;

namespace {

std::string python_list_repr(const std::vector<std::string>& items) {
    json::array a;
    for (const auto& i : items)
        a.emplace_back(i);
    return protocol::python_repr(a);
}

} // namespace

std::optional<std::vector<std::string>> CompositionLibrary::missing_context(const Composition& c,
                                                                            const json::value& context,
                                                                            std::string& error) const {
    std::vector<std::string> missing;
    if (!c.required_context.is_object()) {
        error = "'" + type_name(c.required_context) + "' object has no attribute 'keys'";
        return std::nullopt;
    }
    for (const auto& kv : c.required_context.get_object()) {
        const json::value key(kv.key());
        bool present = false;
        if (context.is_object())
            present = context.get_object().contains(kv.key());
        else if (context.is_array())
            present = std::any_of(context.get_array().begin(), context.get_array().end(),
                                  [&](const json::value& e) { return protocol::python_equal(e, key); });
        else if (context.is_string())
            present = std::string_view(context.get_string()).find(kv.key()) != std::string_view::npos;
        else {
            error = "argument of type '" + type_name(context) + "' is not iterable";
            return std::nullopt;
        }
        if (!present) missing.emplace_back(kv.key());
    }
    return missing;
}

std::optional<std::string> CompositionLibrary::compose(const Composition& c, const json::value& context,
                                                       ComposeError& error) const {
    std::string why;
    auto missing = missing_context(c, context, why);
    if (!missing) {
        error = {"COMPOSE_PROMPT_FAILED", why};
        return std::nullopt;
    }
    if (!missing->empty()) {
        if (!context.is_object()) { // list(context.keys())
            error = {"COMPOSE_PROMPT_FAILED", "'" + type_name(context) + "' object has no attribute 'keys'"};
            return std::nullopt;
        }
        std::vector<std::string> required, provided;
        for (const auto& kv : c.required_context.get_object())
            required.emplace_back(kv.key());
        for (const auto& kv : context.get_object())
            provided.emplace_back(kv.key());
        error = {"CONTEXT_VALIDATION_ERROR", "Missing required context: " + python_list_repr(*missing) +
                                                 "\nRequired: " + python_list_repr(required) +
                                                 "\nProvided: " + python_list_repr(provided)};
        return std::nullopt;
    }
    static const json::object no_context;
    std::string prompt;
    bool first = true;
    for (const auto& comp : c.components) {
        if (protocol::python_truthy(comp.condition)) {
            if (!context.is_object()) {
                error = {"COMPOSE_PROMPT_FAILED",
                         "'" + type_name(context) + "' object has no attribute 'items'"};
                return std::nullopt;
            }
            if (!protocol::condition_holds(protocol::python_str(comp.condition), context.get_object()))
                continue;
        }
        auto component_error = [&](const std::string& text) {
            error = {"CONTEXT_VALIDATION_ERROR", "Error processing component " +
                                                     protocol::python_str(comp.name) + " from " +
                                                     protocol::python_str(comp.source) + ": " + text};
        };
        auto text = read_component(protocol::python_str(comp.source), why);
        if (!text) {
            component_error(why);
            return std::nullopt;
        }
        if (!comp.vars.is_object() || !context.is_object()) { // {**component.vars, **context}
            component_error("'" + type_name(comp.vars.is_object() ? context : comp.vars) +
                            "' object is not a mapping");
            return std::nullopt;
        }
        if (!protocol::substitute_variables(
                *text, protocol::merge_variables(comp.vars.get_object(), context.get_object()))) {
            component_error("the prompt would grow past 64 MiB");
            return std::nullopt;
        }
        if (!first) prompt += "\n\n";
        first = false;
        prompt += *text;
    }
    return prompt;
}

} // namespace ksid::daemon
