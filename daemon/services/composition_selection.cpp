// Composition selection for SPAWN_AGENT (spec §8.6): the legacy scorer over role, capabilities, task words
// and metadata, and the pick of the best-scoring composition.
#include "daemon/services/composition_library.hpp"

#include "protocol/legacy_request.hpp"
#include "protocol/python_condition.hpp"
#include "protocol/python_format.hpp"
#include "protocol/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

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

// The legacy scorer (spec §8.6) on the JSON form of a composition; nullopt where it would raise.
std::optional<double> CompositionLibrary::score(const Composition& c, std::string_view role,
                                                const std::vector<std::string>& caps,
                                                std::string_view task) const {
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
            if (std::any_of(compat->begin(), compat->end(),
                            [&](const json::value& r) { return protocol::python_equal(r, lowered); }))
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
                if (r.is_string() && have.count(std::string(r.get_string())))
                    matching.insert(std::string(r.get_string()));
            if (!matching.empty())
                score += static_cast<double>(matching.size()) / static_cast<double>(required->size()) * 25;
        }
        if (std::any_of(provided->begin(), provided->end(), [&](const json::value& p) {
                return p.is_string() && have.count(std::string(p.get_string()));
            }))
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
            if (std::any_of(lowered.begin(), lowered.end(),
                            [&](const std::string& tag) { return tag.find(w) != std::string::npos; }))
                ++t_hits;
        if (t_hits) score += std::min(3.0 * static_cast<double>(t_hits), 10.0);
    }
    {
        const auto& v = c.version;
        double version = 0;
        bool ok = false;
        if (v.is_int64() || v.is_uint64() || v.is_double() || v.is_bool()) {
            version = v.is_double() ? v.get_double()
                      : v.is_bool() ? (v.get_bool() ? 1 : 0)
                                    : v.to_number<double>();
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
        std::size_t n = uc->is_array()    ? uc->get_array().size()
                        : uc->is_string() ? protocol::count_code_points(uc->get_string())
                        : uc->is_object() ? uc->get_object().size()
                                          : 0;
        if (!uc->is_array() && !uc->is_string() && !uc->is_object())
            return std::nullopt; // len() of a scalar raises
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
