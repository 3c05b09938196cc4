#include "daemon/services/composition_library.hpp"

#include "daemon/core/filesystem.hpp"
#include "daemon/services/composition_internal.hpp"
#include "daemon/services/yaml_values.hpp"

#include <yaml-cpp/yaml.h>

#include <utility>

namespace ksid::daemon {
namespace json = boost::json;

using detail::decode_text;
using detail::exists;
using detail::is_directory;
using detail::list_dir;
using detail::max_file_bytes;
using detail::type_name;

json::object Composition::summary() const {
    return {{"name", name},
            {"version", version},
            {"description", description},
            {"author", author},
            {"required_context", required_context},
            {"metadata", metadata}};
}

json::object Composition::full() const {
    json::array comps;
    for (const auto& c : components)
        comps.push_back(json::object{
            {"name", c.name}, {"source", c.source}, {"vars", c.vars}, {"condition", c.condition}});
    return {{"name", name},
            {"version", version},
            {"description", description},
            {"author", author},
            {"components", std::move(comps)},
            {"required_context", required_context},
            {"metadata", metadata}};
}

void CompositionLibrary::ensure_directories() const {
    ensure_directory(root_ + "/components");
    ensure_directory(root_ + "/compositions");
}

bool CompositionLibrary::valid_composition_name(std::string_view name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
           name.find('\\') == std::string_view::npos && name.find('\0') == std::string_view::npos &&
           name.size() <= 200;
}

std::vector<std::string> CompositionLibrary::composition_names() const {
    std::vector<std::string> names;
    for (const auto& e : list_dir(root_ + "/compositions"))
        if (e.name.size() >= 5 && e.name.ends_with(".yaml"))
            names.push_back(e.name.substr(0, e.name.size() - 5));
    return names;
}

std::string CompositionLibrary::not_found_message(std::string_view name) const {
    std::string available;
    for (const auto& n : composition_names())
        available += (available.empty() ? "" : ", ") + n;
    return "Composition not found: " + root_ + "/compositions/" + std::string(name) +
           ".yaml\nAvailable compositions: " + available;
}

std::optional<Composition> CompositionLibrary::load(std::string_view name,
                                                    CompositionLoadError& error) const {
    const std::string path = root_ + "/compositions/" + std::string(name) + ".yaml";
    if (!valid_composition_name(name) || !exists(path)) {
        error = {true, not_found_message(name)};
        return std::nullopt;
    }
    if (is_directory(path)) {
        error = {false, "[Errno 21] Is a directory: '" + path + "'"};
        return std::nullopt;
    }
    auto bytes = read_small_file(path, max_file_bytes);
    if (!bytes) {
        error = {false, "cannot read " + path};
        return std::nullopt;
    }
    std::string decode_error;
    auto text = decode_text(*bytes, decode_error);
    if (!text) {
        error = {false, decode_error};
        return std::nullopt;
    }
    json::value doc;
    try {
        doc = yaml_to_json(YAML::Load(*text));
    } catch (const YAML::Exception& e) {
        error = {false, e.what()};
        return std::nullopt;
    } catch (const std::exception& e) {
        error = {false, e.what()};
        return std::nullopt;
    }
    if (!doc.is_object()) {
        error = {false, "'" + type_name(doc) + "' object has no attribute 'get'"};
        return std::nullopt;
    }
    const auto& o = doc.get_object();
    Composition c;
    if (const auto* comps = o.if_contains("components")) {
        if (comps->is_array()) {
            for (const auto& item : comps->get_array()) {
                if (!item.is_object()) {
                    error = {false, item.is_string()
                                        ? "string indices must be integers, not 'str'"
                                        : "'" + type_name(item) + "' object is not subscriptable"};
                    return std::nullopt;
                }
                const auto& co = item.get_object();
                CompositionComponent cc;
                for (auto [key, slot] : {std::pair{"name", &cc.name}, {"source", &cc.source}}) {
                    const auto* v = co.if_contains(key);
                    if (!v) {
                        error = {false, "'" + std::string(key) + "'"}; // KeyError
                        return std::nullopt;
                    }
                    *slot = *v;
                }
                if (const auto* vars = co.if_contains("vars")) cc.vars = *vars;
                if (const auto* cond = co.if_contains("condition")) cc.condition = *cond;
                c.components.push_back(std::move(cc));
            }
        } else if (!comps->is_null()) {
            error = {false, "'" + type_name(*comps) + "' object is not iterable"};
            return std::nullopt;
        } else {
            error = {false, "'NoneType' object is not iterable"};
            return std::nullopt;
        }
    }
    for (auto [key, slot] : {std::pair{"name", &c.name},
                             {"version", &c.version},
                             {"description", &c.description},
                             {"author", &c.author}}) {
        const auto* v = o.if_contains(key);
        if (!v) {
            error = {false, "'" + std::string(key) + "'"}; // KeyError
            return std::nullopt;
        }
        *slot = *v;
    }
    if (const auto* rc = o.if_contains("required_context")) c.required_context = *rc;
    if (const auto* md = o.if_contains("metadata")) c.metadata = *md;
    return c;
}

} // namespace ksid::daemon
