#include "daemon/compositions/composition_library.hpp"

#include "daemon/compositions/yaml_values.hpp"
#include "daemon/filesystem.hpp"
#include "protocol/prompt_template.hpp"
#include "protocol/python_condition.hpp"
#include "protocol/python_format.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <dirent.h>
#include <set>
#include <sys/stat.h>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

constexpr std::size_t max_file_bytes = 4u << 20;

struct Entry {
    std::string name;
    bool is_dir;
};

// Directory entries in readdir order, without hidden ones (Python's glob skips them).
std::vector<Entry> list_dir(const std::string& dir) {
    std::vector<Entry> entries;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            struct stat st{};
            const std::string path = dir + "/" + e->d_name;
            const bool is_dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
            entries.push_back({e->d_name, is_dir});
        }
        ::closedir(d);
    }
    return entries;
}

bool is_regular_file(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
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

std::string python_list_repr(const std::vector<std::string>& items) {
    json::array a;
    for (const auto& i : items) a.emplace_back(i);
    return protocol::python_repr(a);
}

// KeyError's text is the repr of the key.
std::string key_error(std::string_view key) { return "'" + std::string(key) + "'"; }

const json::value* get(const json::object& o, std::string_view key) { return o.if_contains(key); }

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
        if (!e.is_dir && e.name.size() > 5 && e.name.ends_with(".yaml")) names.push_back(e.name.substr(0, e.name.size() - 5));
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
    if (!valid_composition_name(name) || !is_regular_file(path)) {
        error = {true, not_found_message(name)};
        return std::nullopt;
    }
    auto text = read_small_file(path, max_file_bytes);
    if (!text) {
        error = {false, "cannot read " + path};
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
        error = {false, doc.is_null() ? "'NoneType' object is not subscriptable"
                                      : "'" + std::string(protocol::python_type_name(doc)) + "' object is not subscriptable"};
        return std::nullopt;
    }
    const auto& o = doc.get_object();
    Composition c;
    for (auto [key, slot] : {std::pair{"name", &c.name}, {"version", &c.version}, {"description", &c.description},
                             {"author", &c.author}}) {
        const auto* v = get(o, key);
        if (!v) {
            error = {false, key_error(key)};
            return std::nullopt;
        }
        *slot = *v;
    }
    if (const auto* comps = get(o, "components"); comps && !comps->is_null()) {
        if (!comps->is_array()) {
            error = {false, "components must be a list"};
            return std::nullopt;
        }
        for (const auto& item : comps->get_array()) {
            if (!item.is_object()) {
                error = {false, "each component must be a mapping"};
                return std::nullopt;
            }
            const auto& co = item.get_object();
            CompositionComponent cc;
            const auto* n = get(co, "name");
            const auto* s = get(co, "source");
            if (!n || !s) {
                error = {false, key_error(!n ? "name" : "source")};
                return std::nullopt;
            }
            cc.name = *n;
            cc.source = *s;
            if (const auto* vars = get(co, "vars"); vars && vars->is_object()) cc.vars = vars->get_object();
            if (const auto* cond = get(co, "condition")) cc.condition = *cond;
            c.components.push_back(std::move(cc));
        }
    }
    if (const auto* rc = get(o, "required_context"); rc && rc->is_object()) c.required_context = rc->get_object();
    if (const auto* md = get(o, "metadata"); md && md->is_object()) c.metadata = md->get_object();
    return c;
}

std::vector<std::string> CompositionLibrary::component_paths() const {
    // glob("**/*.md", recursive=True): each directory in pre-order, its *.md files in readdir order.
    std::vector<std::string> out;
    std::vector<std::string> dirs;
    std::function<void(const std::string&)> walk = [&](const std::string& rel) {
        dirs.push_back(rel);
        for (const auto& e : list_dir(root_ + "/components" + (rel.empty() ? "" : "/" + rel)))
            if (e.is_dir) walk(rel.empty() ? e.name : rel + "/" + e.name);
    };
    walk("");
    for (const auto& rel : dirs)
        for (const auto& e : list_dir(root_ + "/components" + (rel.empty() ? "" : "/" + rel)))
            if (!e.is_dir && e.name.size() > 3 && e.name.ends_with(".md")) out.push_back(rel.empty() ? e.name : rel + "/" + e.name);
    return out;
}

std::vector<std::string> CompositionLibrary::missing_components(const Composition& c) const {
    std::vector<std::string> missing;
    for (const auto& comp : c.components) {
        const std::string source = protocol::python_str(comp.source);
        if (!comp.source.is_string() || !safe_relative_path(source) || !is_regular_file(root_ + "/" + source))
            missing.push_back(source);
    }
    return missing;
}

std::optional<std::string> CompositionLibrary::read_component(const std::string& source, std::string& error) const {
    const std::string path = root_ + "/" + source;
    if (!safe_relative_path(source)) {
        error = "Component path escapes " + root_ + "/: " + source;
        return std::nullopt;
    }
    if (!is_regular_file(path)) {
        const auto slash = source.rfind('/');
        const std::string dir = root_ + "/" + (slash == std::string::npos ? std::string() : source.substr(0, slash));
        std::string available;
        for (const auto& e : list_dir(dir))
            if (!e.is_dir && e.name.ends_with(".md")) available += (available.empty() ? "" : ", ") + e.name;
        error = "Component not found: " + path + "\nAvailable in " + dir + ": " + available;
        return std::nullopt;
    }
    auto text = read_small_file(path, max_file_bytes);
    if (!text) error = "cannot read " + path;
    return text;
}

std::optional<std::string> CompositionLibrary::compose(std::string_view name, const json::object& context,
                                                       CommandError& error) const {
    CompositionLoadError load_error;
    auto c = load(name, load_error);
    if (!c) {
        error = {load_error.not_found ? "COMPOSITION_NOT_FOUND" : "COMPOSE_PROMPT_FAILED", load_error.message};
        return std::nullopt;
    }
    return compose(*c, context, error);
}

std::optional<std::string> CompositionLibrary::compose(const Composition& c, const json::object& context,
                                                       CommandError& error) const {
    std::vector<std::string> missing, required, provided;
    for (const auto& kv : c.required_context) {
        required.emplace_back(kv.key());
        if (!context.contains(kv.key())) missing.emplace_back(kv.key());
    }
    if (!missing.empty()) {
        for (const auto& kv : context) provided.emplace_back(kv.key());
        error = {"CONTEXT_VALIDATION_ERROR", "Missing required context: " + python_list_repr(missing) +
                                                 "\nRequired: " + python_list_repr(required) +
                                                 "\nProvided: " + python_list_repr(provided)};
        return std::nullopt;
    }
    std::string prompt;
    bool first = true;
    for (const auto& comp : c.components) {
        const std::string condition = comp.condition.is_null() ? std::string() : protocol::python_str(comp.condition);
        if (!protocol::condition_holds(condition, context)) continue;
        std::string why;
        auto text = read_component(protocol::python_str(comp.source), why);
        if (!text) {
            error = {"CONTEXT_VALIDATION_ERROR", "Error processing component " + protocol::python_str(comp.name) +
                                                     " from " + protocol::python_str(comp.source) + ": " + why};
            return std::nullopt;
        }
        if (!first) prompt += "\n\n";
        first = false;
        prompt += protocol::substitute_variables(std::move(*text), protocol::merge_variables(comp.vars, context));
    }
    return prompt;
}

CompositionSelection CompositionLibrary::select_for_agent(std::string_view role,
                                                          const std::vector<std::string>& capabilities,
                                                          std::string_view task) const {
    CompositionSelection best{"claude_agent_default", true, 0};
    const std::string role_lower = lower(role);
    const auto task_words = split_words(lower(task));
    const std::set<std::string> caps(capabilities.begin(), capabilities.end());
    for (const auto& name : composition_names()) {
        CompositionLoadError ignored;
        auto c = load(name, ignored);
        if (!c) continue;
        const auto& md = c->metadata;
        double score = 0;
        const auto* md_role = get(md, "role");
        if (md_role && md_role->is_string() && lower(md_role->get_string()) == role_lower) {
            score += 30;
        } else if (md_role) {
            if (const auto* compat = get(md, "compatible_roles"); compat && compat->is_array())
                for (const auto& r : compat->get_array())
                    if (r.is_string() && r.get_string() == role_lower) {
                        score += 20;
                        break;
                    }
        }
        auto string_set = [&](std::string_view key) {
            std::set<std::string> s;
            if (const auto* v = get(md, key); v && v->is_array())
                for (const auto& e : v->get_array())
                    if (e.is_string()) s.insert(std::string(e.get_string()));
            return s;
        };
        if (!caps.empty()) {
            const auto required = string_set("capabilities_required");
            if (!required.empty()) {
                std::size_t common = 0;
                for (const auto& r : required) common += caps.count(r);
                score += 25.0 * static_cast<double>(common) / static_cast<double>(required.size());
            }
            const auto provided = string_set("capabilities_provided");
            if (std::any_of(provided.begin(), provided.end(), [&](const std::string& p) { return caps.count(p); }))
                score += 10;
        }
        if (!task_words.empty()) {
            const std::string description = lower(protocol::python_str(c->description));
            std::size_t k = 0;
            for (const auto& w : task_words)
                if (description.find(w) != std::string::npos) ++k;
            score += std::min<double>(5.0 * static_cast<double>(k), 15);
            std::vector<std::string> tags;
            if (const auto* t = get(md, "tags"); t && t->is_array())
                for (const auto& e : t->get_array())
                    if (e.is_string()) tags.push_back(lower(e.get_string()));
            std::size_t t_hits = 0;
            for (const auto& w : task_words)
                if (std::any_of(tags.begin(), tags.end(), [&](const std::string& tag) { return tag.find(w) != std::string::npos; }))
                    ++t_hits;
            score += std::min<double>(3.0 * static_cast<double>(t_hits), 10);
        }
        {
            const std::string v = protocol::python_str(c->version);
            char* end = nullptr;
            const double version = std::strtod(v.c_str(), &end);
            if (end && end != v.c_str() && *end == '\0' && version >= 2.0) score += 5;
        }
        if (const auto* uc = get(md, "use_cases"); uc && (uc->is_array() ? uc->get_array().size() >= 2 : false)) score += 3;
        if (const auto* tested = get(md, "tested"); tested && protocol::python_truthy(*tested)) score += 2;
        if (score > 0 && score > best.score) best = {name, false, score};
    }
    return best;
}

} // namespace ksid::daemon
