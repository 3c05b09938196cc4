#pragma once
// Prompt compositions (spec §5.23-5.27, §8): YAML compositions under prompts/compositions/, Markdown
// components under prompts/components/, directory order as readdir gives it, and the composer. Names and
// component paths are confined to prompts/.
#include "daemon/command_types.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

struct CompositionComponent {
    boost::json::value name;
    boost::json::value source;
    boost::json::object vars;
    boost::json::value condition; // null or a string
};

struct Composition {
    boost::json::value name, version, description, author;
    std::vector<CompositionComponent> components;
    boost::json::object required_context;
    boost::json::object metadata;

    boost::json::object summary() const;  // GET_COMPOSITIONS entry
    boost::json::object full() const;     // GET_COMPOSITION
};

struct CompositionLoadError {
    bool not_found = false; // missing file (COMPOSITION_NOT_FOUND) vs. a file that does not load
    std::string message;
};

struct CompositionSelection {
    std::string composition;
    bool fallback_used = false;
    double score = 0;
};

class CompositionLibrary {
public:
    explicit CompositionLibrary(std::string prompts_dir = "prompts") : root_(std::move(prompts_dir)) {}

    // Every composition command first creates prompts/components/ and prompts/compositions/.
    void ensure_directories() const;

    // Stems of prompts/compositions/*.yaml in readdir order.
    std::vector<std::string> composition_names() const;
    // Composition file names cannot leave prompts/compositions/.
    static bool valid_composition_name(std::string_view name);

    // Loads one composition. `error` is set on failure.
    std::optional<Composition> load(std::string_view name, CompositionLoadError& error) const;

    // prompts/components/**/*.md relative to prompts/components, in the legacy walk order.
    std::vector<std::string> component_paths() const;

    // Missing component sources of a composition (structural check of VALIDATE_COMPOSITION).
    std::vector<std::string> missing_components(const Composition& c) const;

    // compose(name, context): the prompt, or the error reply (COMPOSITION_NOT_FOUND,
    // CONTEXT_VALIDATION_ERROR, COMPOSE_PROMPT_FAILED, GET_COMPOSITION_FAILED).
    std::optional<std::string> compose(std::string_view name, const boost::json::object& context,
                                       CommandError& error) const;
    std::optional<std::string> compose(const Composition& c, const boost::json::object& context,
                                       CommandError& error) const;

    // The "not found" message, which lists the available compositions.
    std::string not_found_message(std::string_view name) const;

    // Composition selection for SPAWN_AGENT (spec §8.6).
    CompositionSelection select_for_agent(std::string_view role, const std::vector<std::string>& capabilities,
                                          std::string_view task) const;

private:
    std::optional<std::string> read_component(const std::string& source, std::string& error) const;

    std::string root_;
};

} // namespace ksid::daemon
