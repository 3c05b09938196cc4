#include "daemon/services/composition_library.hpp"

#include "daemon/services/yaml_values.hpp"
#include "daemon/core/filesystem.hpp"
#include "protocol/claude_output.hpp"
#include "protocol/prompt_template.hpp"
#include "protocol/python_condition.hpp"
#include "protocol/python_format.hpp"
#include "protocol/python_json.hpp"
#include "protocol/utf8.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <set>
#include <sys/stat.h>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

constexpr std::size_t max_file_bytes = 4u << 20;

struct Entry {
    std::string name;
    bool is_dir;
    bool is_symlink;
};

// Entries in readdir order, dot-names included (Python 3.11's pathlib glob lists them).
std::vector<Entry> list_dir(const std::string& dir) {
    std::vector<Entry> entries;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            struct stat st{}, lst{};
            const std::string path = dir + "/" + name;
            const bool is_dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
            const bool is_link = ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
            entries.push_back({name, is_dir, is_link});
        }
        ::closedir(d);
    }
    return entries;
}

bool exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A component source must stay inside prompts/: relative, no "..", no NUL.
bool safe_relative_path(std::string_view p) {
    if (p.empty() || p.front() == '/' || p.find('\0') != std::string_view::npos) return false;
    std::size_t start = 0;
    while (start <= p.size()) {
        auto slash = p.find('/', start);
        if (slash == std::string_view::npos) slash = p.size();
        if (p.substr(start, slash - start) == "..") return false;
        start = slash + 1;
    }
    return true;
}

// pathlib's rendering of "prompts" / source: empty and "." segments collapse.
std::string display_path(const std::string& root, std::string_view source) {
    std::string out = root;
    std::size_t start = 0;
    while (start <= source.size()) {
        auto slash = source.find('/', start);
        if (slash == std::string_view::npos) slash = source.size();
        const auto part = source.substr(start, slash - start);
        if (!part.empty() && part != ".") out += "/" + std::string(part);
        start = slash + 1;
    }
    return out;
}

std::string python_list_repr(const std::vector<std::string>& items) {
    json::array a;
    for (const auto& i : items) a.emplace_back(i);
    return protocol::python_repr(a);
}

std::string type_name(const json::value& v) { return std::string(protocol::python_type_name(v)); }

// Text as Python's open(..., "r") reads it: UTF-8 with universal newlines.
std::optional<std::string> decode_text(const std::string& bytes, std::string& error) {
    if (!protocol::is_valid_utf8(bytes)) {
        error = protocol::python_utf8_error(bytes);
        return std::nullopt;
    }
    std::string out;
    out.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] == '\r') {
            out += '\n';
            if (i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
        } else {
            out += bytes[i];
        }
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
    return r;
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> words;
    std::string cur;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (!cur.empty()) words.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) words.push_back(std::move(cur));
    return words;
}

} // namespace

json::object Composition::summary() const {
    return {{"name", name},         {"version", version},
            {"description", description}, {"author", author},
            {"required_context", required_context}, {"metadata", metadata}};
}

json::object Composition::full() const {
    json::array comps;
    for (const auto& c : components)
        comps.push_back(json::object{{"name", c.name}, {"source", c.source}, {"vars", c.vars}, {"condition", c.condition}});
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
           name.find('\\') == std::string_view::npos && name.find('\0') == std::string_view::npos && name.size() <= 200;
}

std::vector<std::string> CompositionLibrary::composition_names() const {
    std::vector<std::string> names;
    for (const auto& e : list_dir(root_ + "/compositions"))
        if (e.name.size() >= 5 && e.name.ends_with(".yaml")) names.push_back(e.name.substr(0, e.name.size() - 5));
    return names;
}

std::string CompositionLibrary::not_found_message(std::string_view name) const {
    std::string available;
    for (const auto& n : composition_names()) available += (available.empty() ? "" : ", ") + n;
    return "Composition not found: " + root_ + "/compositions/" + std::string(name) + ".yaml\nAvailable compositions: " +
           available;
}

std::optional<Composition> CompositionLibrary::load(std::string_view name, CompositionLoadError& error) const {
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
                    error = {false, item.is_string() ? "string indices must be integers, not 'str'"
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
    for (auto [key, slot] : {std::pair{"name", &c.name}, {"version", &c.version}, {"description", &c.description},
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

std::vector<std::string> CompositionLibrary::component_paths() const {
    // Path.rglob("*.md"): each directory's own matches (any entry kind) in readdir order, then its
    // subdirectories in readdir order (symlinked directories are not entered).
    std::vector<std::string> out;
    std::set<std::string> seen;
    std::function<void(const std::string&)> walk = [&](const std::string& rel) {
        const auto entries = list_dir(root_ + "/components" + (rel.empty() ? "" : "/" + rel));
        for (const auto& e : entries)
            if (e.name.size() >= 3 && e.name.ends_with(".md")) {
                std::string path = rel.empty() ? e.name : rel + "/" + e.name;
                if (seen.insert(path).second) out.push_back(std::move(path));
            }
        for (const auto& e : entries)
            if (e.is_dir && !e.is_symlink) walk(rel.empty() ? e.name : rel + "/" + e.name);
    };
    walk("");
    return out;
}

std::vector<std::string> CompositionLibrary::missing_components(const Composition& c) const {
    std::vector<std::string> missing;
    for (const auto& comp : c.components) {
        const std::string source = protocol::python_str(comp.source);
        if (!comp.source.is_string() || !safe_relative_path(source) || !exists(root_ + "/" + source))
            missing.push_back(source);
    }
    return missing;
}

std::optional<std::string> CompositionLibrary::read_component(const std::string& source, std::string& error) const {
    const std::string full = display_path(root_, source);
    if (!safe_relative_path(source)) {
        error = "Component path escapes " + root_ + "/: " + source;
        return std::nullopt;
    }
    if (!exists(root_ + "/" + source)) {
        const auto slash = full.rfind('/');
        const std::string parent = full.substr(0, slash);
        if (!is_directory(parent)) {
            error = "Component not found: " + full + "\nDirectory does not exist: " + parent;
            return std::nullopt;
        }
        std::string available;
        for (const auto& e : list_dir(parent))
            if (e.name.size() >= 3 && e.name.ends_with(".md")) available += (available.empty() ? "" : ", ") + e.name;
        error = "Component not found: " + full + "\nAvailable in " + parent + ": " + available;
        return std::nullopt;
    }
    if (is_directory(root_ + "/" + source)) {
        error = "[Errno 21] Is a directory: '" + full + "'";
        return std::nullopt;
    }
    auto bytes = read_small_file(root_ + "/" + source, max_file_bytes);
    if (!bytes) {
        error = "cannot read " + full;
        return std::nullopt;
    }
    return decode_text(*bytes, error);
}

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
        if (context.is_object()) present = context.get_object().contains(kv.key());
        else if (context.is_array())
            present = std::any_of(context.get_array().begin(), context.get_array().end(),
                                  [&](const json::value& e) { return protocol::python_equal(e, key); });
        else if (context.is_string()) present = std::string_view(context.get_string()).find(kv.key()) != std::string_view::npos;
        else {
            error = "argument of type '" + type_name(context) + "' is not iterable";
            return std::nullopt;
        }
        if (!present) missing.emplace_back(kv.key());
    }
    return missing;
}

std::optional<std::string> CompositionLibrary::compose(const Composition& c, const json::value& context,
                                                       CommandError& error) const {
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
        for (const auto& kv : c.required_context.get_object()) required.emplace_back(kv.key());
        for (const auto& kv : context.get_object()) provided.emplace_back(kv.key());
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
                error = {"COMPOSE_PROMPT_FAILED", "'" + type_name(context) + "' object has no attribute 'items'"};
                return std::nullopt;
            }
            if (!protocol::condition_holds(protocol::python_str(comp.condition), context.get_object())) continue;
        }
        auto component_error = [&](const std::string& text) {
            error = {"CONTEXT_VALIDATION_ERROR", "Error processing component " + protocol::python_str(comp.name) +
                                                     " from " + protocol::python_str(comp.source) + ": " + text};
        };
        auto text = read_component(protocol::python_str(comp.source), why);
        if (!text) {
            component_error(why);
            return std::nullopt;
        }
        if (!comp.vars.is_object() || !context.is_object()) { // {**component.vars, **context}
            component_error("'" + type_name(comp.vars.is_object() ? context : comp.vars) + "' object is not a mapping");
            return std::nullopt;
        }
        if (!protocol::substitute_variables(*text, protocol::merge_variables(comp.vars.get_object(), context.get_object()))) {
            component_error("the prompt would grow past 64 MiB");
            return std::nullopt;
        }
        if (!first) prompt += "\n\n";
        first = false;
        prompt += *text;
    }
    return prompt;
}

// The legacy scorer (spec §8.6) on the JSON form of a composition; nullopt where it would raise.
std::optional<double> CompositionLibrary::score(const Composition& c, std::string_view role,
                                                const std::vector<std::string>& caps, std::string_view task) const {
    if (!c.metadata.is_object()) return std::nullopt;
    const auto& md = c.metadata.get_object();
    auto list_of = [&](std::string_view key) -> std::optional<json::array> {
        const auto* v = md.if_contains(key);
        if (!v) return json::array();
        if (!v->is_array()) return std::nullopt;
        return v->get_array();
    };
    double score = 0;
    const auto* md_role = md.if_contains("role");
    if (!role.empty() && md_role && protocol::python_truthy(*md_role)) {
        if (!md_role->is_string()) return std::nullopt;
        if (lower(role) == lower(md_role->get_string())) {
            score += 30;
        } else {
            auto compat = list_of("compatible_roles");
            if (!compat) return std::nullopt;
            const json::value lowered(lower(role));
            if (std::any_of(compat->begin(), compat->end(), [&](const json::value& r) { return protocol::python_equal(r, lowered); }))
                score += 20;
        }
    }
    if (!caps.empty()) {
        auto required = list_of("capabilities_required");
        auto provided = list_of("capabilities_provided");
        if (!required || !provided) return std::nullopt;
        const std::set<std::string> have(caps.begin(), caps.end());
        if (!required->empty()) {
            std::set<std::string> matching;
            for (const auto& r : *required)
                if (r.is_string() && have.count(std::string(r.get_string()))) matching.insert(std::string(r.get_string()));
            if (!matching.empty()) score += static_cast<double>(matching.size()) / static_cast<double>(required->size()) * 25;
        }
        if (std::any_of(provided->begin(), provided->end(),
                        [&](const json::value& p) { return p.is_string() && have.count(std::string(p.get_string())); }))
            score += 10;
    }
    if (!task.empty()) {
        if (!c.description.is_string()) return std::nullopt;
        const auto words = split_words(lower(task));
        const std::string description = lower(c.description.get_string());
        std::size_t k = 0;
        for (const auto& w : words)
            if (description.find(w) != std::string::npos) ++k;
        if (k) score += std::min(5.0 * static_cast<double>(k), 15.0);
        auto tags = list_of("tags");
        if (!tags) return std::nullopt;
        std::vector<std::string> lowered;
        for (const auto& t : *tags) {
            if (!t.is_string()) return std::nullopt;
            lowered.push_back(lower(t.get_string()));
        }
        std::size_t t_hits = 0;
        for (const auto& w : words)
            if (std::any_of(lowered.begin(), lowered.end(), [&](const std::string& tag) { return tag.find(w) != std::string::npos; }))
                ++t_hits;
        if (t_hits) score += std::min(3.0 * static_cast<double>(t_hits), 10.0);
    }
    {
        const auto& v = c.version;
        double version = 0;
        bool ok = false;
        if (v.is_int64() || v.is_uint64() || v.is_double() || v.is_bool()) {
            version = v.is_double() ? v.get_double() : v.is_bool() ? (v.get_bool() ? 1 : 0) : v.to_number<double>();
            ok = true;
        } else if (v.is_string()) {
            const std::string text = std::string(protocol::strip_python_whitespace(v.get_string()));
            char* end = nullptr;
            version = std::strtod(text.c_str(), &end);
            ok = !text.empty() && end && *end == '\0';
        }
        if (ok && version >= 2.0) score += 5;
    }
    if (const auto* uc = md.if_contains("use_cases")) {
        std::size_t n = uc->is_array() ? uc->get_array().size() : uc->is_string() ? protocol::count_code_points(uc->get_string())
                                                                  : uc->is_object() ? uc->get_object().size() : 0;
        if (!uc->is_array() && !uc->is_string() && !uc->is_object()) return std::nullopt; // len() of a scalar raises
        if (n >= 2) score += 3;
    }
    if (const auto* tested = md.if_contains("tested"); tested && protocol::python_truthy(*tested)) score += 2;
    return score;
}

CompositionSelection CompositionLibrary::select_for_agent(std::string_view role,
                                                          const std::vector<std::string>& capabilities,
                                                          std::string_view task) const {
    CompositionSelection best{"claude_agent_default", true, 0};
    for (const auto& name : composition_names()) {
        CompositionLoadError ignored;
        auto c = load(name, ignored);
        if (!c) continue;
        auto s = score(*c, role, capabilities, task);
        if (!s) return {"", false, -1}; // the legacy selector raised: the caller uses the profile name
        if (*s > 0 && *s > best.score) best = {name, false, *s};
    }
    return best;
}

} // namespace ksid::daemon
