// Prompt components (spec §5.23-5.27): the Markdown files under prompts/components/, found in the legacy
// rglob order, checked for a composition's sources, and read for the composer (paths confined to prompts/).
#include "daemon/services/composition_library.hpp"

#include "daemon/core/filesystem.hpp"
#include "daemon/services/composition_internal.hpp"
#include "protocol/python_format.hpp"

#include <functional>
#include <set>

namespace ksid::daemon {

using detail::decode_text;
using detail::exists;
using detail::is_directory;
using detail::list_dir;
using detail::max_file_bytes;

namespace {

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

} // namespace

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

std::optional<std::string> CompositionLibrary::read_component(const std::string& source,
                                                              std::string& error) const {
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
            if (e.name.size() >= 3 && e.name.ends_with(".md"))
                available += (available.empty() ? "" : ", ") + e.name;
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

} // namespace ksid::daemon
