#pragma once
// Prompt compositions (spec §5.23-5.27, §8): YAML compositions under prompts/compositions/, Markdown
// components under prompts/components/, directory order as readdir gives it, and the composer. Names and
// component paths are confined to prompts/.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

// Fields keep whatever the YAML holds (as PyYAML gave the legacy daemon): a `vars:` with no value is
// null, and using it fails the way the legacy composer failed.
struct CompositionComponent {
    boost::json::value name;
    boost::json::value source;
    boost::json::value vars = boost::json::object(); // default {}
    boost::json::value condition;                     // null or a string
};

struct Composition {
    boost::json::value name, version, description, author;
    std::vector<CompositionComponent> components;
    boost::json::value required_context = boost::json::object();
    boost::json::value metadata = boost::json::object();

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

// Why a composition could not be composed: the legacy reply's code (CONTEXT_VALIDATION_ERROR or
// COMPOSE_PROMPT_FAILED) and text.
struct ComposeError {
    std::string code;
    std::string message;
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

    // compose(composition, context): the prompt, or the legacy error reply (CONTEXT_VALIDATION_ERROR for a
    // missing context key or a component failure, COMPOSE_PROMPT_FAILED for anything else). `context` is
    // the parameter as sent (it need not be an object).
    std::optional<std::string> compose(const Composition& c, const boost::json::value& context,
                                       ComposeError& error) const;

    // The required keys absent from `context`, or an error text where Python's `key in context` raises.
    std::optional<std::vector<std::string>> missing_context(const Composition& c, const boost::json::value& context,
                                                            std::string& error) const;

    // The "not found" message, which lists the available compositions.
    std::string not_found_message(std::string_view name) const;

    // Composition selection for SPAWN_AGENT (spec §8.6).
    CompositionSelection select_for_agent(std::string_view role, const std::vector<std::string>& capabilities,
                                          std::string_view task) const;

private:
    std::optional<std::string> read_component(const std::string& source, std::string& error) const;
    std::optional<double> score(const Composition& c, std::string_view role, const std::vector<std::string>& caps,
                                std::string_view task) const;

    std::string root_;
};

} // namespace ksid::daemon
