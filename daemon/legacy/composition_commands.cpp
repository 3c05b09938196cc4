#include "daemon/legacy/composition_commands.hpp"

#include "protocol/python_condition.hpp"
#include "protocol/python_format.hpp"
#include "protocol/utf8.hpp"

namespace ksid::daemon {
namespace json = boost::json;

void CompositionCommands::register_with(CommandRouter& router) {
    router.add("GET_COMPOSITIONS", sync_handler([this](auto& r) { return get_compositions(r); }));
    router.add("GET_COMPOSITION", sync_handler([this](auto& r) { return get_composition(r); }));
    router.add("VALIDATE_COMPOSITION", sync_handler([this](auto& r) { return validate_composition(r); }));
    router.add("LIST_COMPONENTS", sync_handler([this](auto& r) { return list_components(r); }));
    router.add("COMPOSE_PROMPT", sync_handler([this](auto& r) { return compose_prompt(r); }));
}

CommandOutcome CompositionCommands::get_compositions(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return CommandOutcome::failure("GET_COMPOSITIONS_FAILED", params.error().message);
    library_.ensure_directories();
    const json::value* include = (*params)->if_contains("include_metadata");
    const bool with_metadata = !include || protocol::python_truthy(*include);
    const json::value& category = parameter(**params, "category");
    json::object compositions;
    for (const auto& name : library_.composition_names()) {
        if (!with_metadata) {
            compositions[name] = json::object{{"name", name}};
            continue;
        }
        CompositionLoadError ignored;
        auto c = library_.load(name, ignored);
        if (!c) continue; // files that do not load are skipped
        if (protocol::python_truthy(category)) { // metadata.get("category") != category, Python's equality
            if (!c->metadata.is_object()) continue; // the legacy handler raised and skipped the file
            const auto* mc = c->metadata.get_object().if_contains("category");
            if (!protocol::python_equal(mc ? *mc : json::value(nullptr), category)) continue;
        }
        compositions[name] = c->summary();
    }
    const auto total = compositions.size();
    return CommandOutcome::success({{"compositions", std::move(compositions)}, {"total", total}});
}

CommandOutcome CompositionCommands::get_composition(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return CommandOutcome::failure("GET_COMPOSITION_FAILED", params.error().message);
    library_.ensure_directories();
    const std::string name = protocol::python_str(parameter(**params, "name"));
    CompositionLoadError error;
    auto c = library_.load(name, error);
    if (!c) return CommandOutcome::failure(error.not_found ? "COMPOSITION_NOT_FOUND" : "GET_COMPOSITION_FAILED", error.message);
    return CommandOutcome::success({{"composition", c->full()}});
}

CommandOutcome CompositionCommands::validate_composition(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return CommandOutcome::failure("VALIDATE_COMPOSITION_FAILED", params.error().message);
    library_.ensure_directories();
    const std::string name = protocol::python_str(parameter(**params, "name"));
    const json::value& context = parameter(**params, "context");
    auto invalid = [](json::object details) {
        json::object result{{"valid", false}};
        for (auto& kv : details) result[kv.key()] = std::move(kv.value());
        return CommandOutcome::success(std::move(result));
    };
    // 1. Structure: the composition loads and every component file exists (conditions are not considered).
    CompositionLoadError error;
    auto c = library_.load(name, error);
    if (!c) return invalid({{"issues", json::object{{"composition_errors", json::array{json::value(error.message)}}}}});
    if (auto missing = library_.missing_components(*c); !missing.empty()) {
        json::array list;
        for (auto& m : missing) list.emplace_back(m);
        return invalid({{"issues", json::object{{"missing_components", std::move(list)}}}});
    }
    // 2. Context: every required key is present.
    std::string why;
    auto missing_context = library_.missing_context(*c, context, why);
    if (!missing_context) return invalid({{"error", why}});
    if (!missing_context->empty()) {
        json::array list;
        for (auto& m : *missing_context) list.emplace_back(m);
        return invalid({{"missing_context", std::move(list)}, {"required_context", c->required_context}});
    }
    // 3. It composes.
    ComposeError compose_error;
    auto prompt = library_.compose(*c, context, compose_error);
    if (!prompt) return invalid({{"error", compose_error.message}});
    return CommandOutcome::success({{"valid", true}, {"prompt_length", protocol::count_code_points(*prompt)}});
}

CommandOutcome CompositionCommands::list_components(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return CommandOutcome::failure("LIST_COMPONENTS_FAILED", params.error().message);
    library_.ensure_directories();
    const json::value& directory = parameter(**params, "directory");
    const bool filter = protocol::python_truthy(directory);
    const auto paths = library_.component_paths();
    if (filter && !directory.is_string() && !paths.empty())
        return CommandOutcome::failure("LIST_COMPONENTS_FAILED", "startswith first arg must be str or a tuple of str, not " +
                                                                     std::string(protocol::python_type_name(directory)));
    const std::string prefix = filter && directory.is_string() ? std::string(directory.get_string()) : std::string();
    json::array components;
    json::object by_directory;
    for (const auto& path : paths) {
        if (filter && !path.starts_with(prefix)) continue;
        components.emplace_back(path);
        const auto slash = path.find('/');
        const std::string group = slash == std::string::npos ? std::string() : path.substr(0, slash);
        auto& list = by_directory[group];
        if (!list.is_array()) list = json::array();
        list.get_array().emplace_back(path);
    }
    const auto total = components.size();
    return CommandOutcome::success(
        {{"components", std::move(components)}, {"by_directory", std::move(by_directory)}, {"total", total}});
}

CommandOutcome CompositionCommands::compose_prompt(const protocol::LegacyRequest& request) {
    auto params = parameters_object(request);
    if (!params) return CommandOutcome::failure("COMPOSE_PROMPT_FAILED", params.error().message);
    library_.ensure_directories();
    const json::value& composition = parameter(**params, "composition");
    const json::value& context = parameter(**params, "context");
    const std::string name = protocol::python_str(composition);
    CompositionLoadError load_error;
    auto c = library_.load(name, load_error);
    if (!c)
        return CommandOutcome::failure(load_error.not_found ? "COMPOSITION_NOT_FOUND" : "COMPOSE_PROMPT_FAILED",
                                       load_error.message);
    ComposeError error;
    auto prompt = library_.compose(*c, context, error);
    if (!prompt) return CommandOutcome::failure(std::move(error.code), std::move(error.message));
    const auto length = protocol::count_code_points(*prompt);
    return CommandOutcome::success({{"prompt", std::move(*prompt)}, {"length", length}, {"composition", composition}});
}

} // namespace ksid::daemon
