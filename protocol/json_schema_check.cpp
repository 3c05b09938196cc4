#include "protocol/json_schema_check.hpp"

// valijson reports a bad schema by throwing (else it aborts): the throws stay inside compile().
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ksid::protocol {
namespace json = boost::json;

namespace {

// Keys whose values name things (their members are schemas, never keywords themselves).
bool names_schemas(std::string_view key) {
    return key == "properties" || key == "definitions" || key == "$defs" || key == "dependencies";
}
// Keys whose values are data, not schemas.
bool is_data(std::string_view key) {
    return key == "enum" || key == "const" || key == "default" || key == "examples";
}

template <class Visit>
void each_subschema(const json::object& schema, Visit&& visit) {
    for (const auto& [key, v] : schema) {
        if (is_data(key)) continue;
        if (names_schemas(key) && v.is_object()) {
            for (const auto& [name, sub] : v.get_object())
                if (sub.is_object()) visit(sub.get_object());
        } else if (v.is_object()) {
            visit(v.get_object());
        } else if (v.is_array()) {
            for (const auto& item : v.get_array())
                if (item.is_object()) visit(item.get_object());
        }
    }
}

json::object strip(const json::object& schema) {
    json::object out;
    for (const auto& [key, v] : schema) {
        if ((key == "pattern" || key == "format") && v.is_string()) continue;
        if (is_data(key)) {
            out[key] = v;
        } else if (names_schemas(key) && v.is_object()) {
            json::object named;
            for (const auto& [name, sub] : v.get_object()) named[name] = sub.is_object() ? json::value(strip(sub.get_object())) : sub;
            out[key] = std::move(named);
        } else if (v.is_object()) {
            out[key] = strip(v.get_object());
        } else if (v.is_array()) {
            json::array items;
            for (const auto& item : v.get_array()) items.push_back(item.is_object() ? json::value(strip(item.get_object())) : item);
            out[key] = std::move(items);
        } else {
            out[key] = v;
        }
    }
    return out;
}

bool pattern_properties_in(const json::object& schema, int depth) {
    if (depth > 64) return true; // deeper than any compiled schema may be: refused all the same
    if (schema.contains("patternProperties")) return true;
    bool found = false;
    each_subschema(schema, [&](const json::object& sub) { found = found || pattern_properties_in(sub, depth + 1); });
    return found;
}

// $refs are local JSON pointers ("#", "#/definitions/a"); the schema object one names, or null.
const json::object* resolve(const json::value& root, std::string_view ref) {
    if (ref == "#") return root.is_object() ? &root.get_object() : nullptr;
    if (!ref.starts_with("#/")) return nullptr;
    const json::value* at = &root;
    std::string_view rest = ref.substr(2);
    while (at) {
        const auto slash = rest.find('/');
        std::string token(rest.substr(0, slash));
        for (std::size_t i; (i = token.find("~1")) != std::string::npos;) token.replace(i, 2, "/");
        for (std::size_t i; (i = token.find("~0")) != std::string::npos;) token.replace(i, 2, "~");
        if (at->is_object()) {
            at = at->get_object().if_contains(token);
        } else if (at->is_array()) {
            std::size_t index = 0;
            const auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
            at = ec == std::errc{} && p == token.data() + token.size() && index < at->get_array().size()
                     ? &at->get_array()[index]
                     : nullptr;
        } else {
            at = nullptr;
        }
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return at && at->is_object() ? &at->get_object() : nullptr;
}

// valijson follows a chain of $refs and in-place applicators (allOf, anyOf, oneOf, not, if/then/else) without
// bound when it comes back to where it started ({"$ref": "#"} overflows its stack): such a cycle that never
// descends into the value (properties, items, ...) is refused, as are refs that are not local pointers.
class RefCycleCheck {
public:
    explicit RefCycleCheck(const json::value& root) : root_(root) {}

    std::optional<std::string> problem() {
        if (root_.is_object()) visit_all(root_.get_object(), 0);
        return problem_;
    }

private:
    static constexpr std::size_t max_expansion = 256;
    struct Mark {
        bool on_path = true;
        std::size_t expansion = 0; // schemas applied in place, this one included, once done
    };

    void visit_all(const json::object& schema, int depth) {
        if (problem_ || depth > 64) return;
        walk(schema, 0);
        each_subschema(schema, [&](const json::object& sub) { visit_all(sub, depth + 1); });
    }

    // Depth first along the in-place edges, each schema once: one met again while on the path is a cycle.
    // Returns how many schemas applying `schema` applies in place (valijson's work per value node).
    std::size_t walk(const json::object& schema, int length) {
        if (problem_) return 0;
        const auto [it, fresh] = marks_.try_emplace(&schema);
        if (!fresh) {
            if (it->second.on_path)
                problem_ = "the schema's $refs loop without descending into the value (e.g. {\"$ref\": \"#\"})";
            return it->second.expansion;
        }
        if (length > 256) {
            problem_ = "the schema's $refs chain too deeply";
            return 0;
        }
        std::size_t expansion = 1;
        if (const auto* ref = schema.if_contains("$ref"); ref && ref->is_string()) {
            const std::string_view r = ref->get_string();
            if (r != "#" && !r.starts_with("#/")) {
                problem_ = "only local $refs (\"#\" or \"#/...\" JSON pointers) are supported";
            } else if (const auto* target = resolve(root_, r)) {
                expansion += walk(*target, length + 1);
            }
        }
        for (const char* key : {"allOf", "anyOf", "oneOf"})
            if (const auto* list = schema.if_contains(key); list && list->is_array())
                for (const auto& item : list->get_array())
                    if (item.is_object()) expansion += walk(item.get_object(), length + 1);
        for (const char* key : {"not", "if", "then", "else"})
            if (const auto* sub = schema.if_contains(key); sub && sub->is_object())
                expansion += walk(sub->get_object(), length + 1);
        if (expansion > max_expansion && !problem_)
            problem_ = "the schema applies more than " + std::to_string(max_expansion) +
                       " schemas in place at one point ($ref, allOf, anyOf, oneOf, not, if/then/else)";
        auto& mark = marks_[&schema];
        mark.on_path = false;
        mark.expansion = std::min(expansion, max_expansion + 1);
        return mark.expansion;
    }

    const json::value& root_;
    std::unordered_map<const json::object*, Mark> marks_;
    std::optional<std::string> problem_;
};

int depth_of(const json::value& v, int limit) {
    if (limit <= 0) return 1;
    int deepest = 0;
    if (v.is_object())
        for (const auto& [k, child] : v.get_object()) deepest = std::max(deepest, depth_of(child, limit - 1));
    else if (v.is_array())
        for (const auto& child : v.get_array()) deepest = std::max(deepest, depth_of(child, limit - 1));
    return deepest + 1;
}

} // namespace

struct JsonSchemaCheck::Compiled {
    valijson::Schema schema;
};

JsonSchemaCheck::JsonSchemaCheck(std::unique_ptr<Compiled> compiled) : compiled_(std::move(compiled)) {}
JsonSchemaCheck::JsonSchemaCheck(JsonSchemaCheck&&) noexcept = default;
JsonSchemaCheck& JsonSchemaCheck::operator=(JsonSchemaCheck&&) noexcept = default;
JsonSchemaCheck::~JsonSchemaCheck() = default;

json::value without_regex_keywords(const json::value& schema) {
    return schema.is_object() ? json::value(strip(schema.get_object())) : schema;
}

bool uses_pattern_properties(const json::value& schema) {
    return schema.is_object() && pattern_properties_in(schema.get_object(), 0);
}

boost::system::result<JsonSchemaCheck, std::string> JsonSchemaCheck::compile(const json::value& schema) {
    if (!schema.is_object()) return std::string("the schema must be a JSON object");
    if (uses_pattern_properties(schema))
        return std::string("schemas with patternProperties are not supported (ksid runs no client regular "
                           "expressions)");
    const json::value local = without_regex_keywords(schema);
    if (auto problem = RefCycleCheck(local).problem()) return *problem;
    auto compiled = std::make_unique<Compiled>();
    try {
        valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
        const valijson::adapters::BoostJsonAdapter adapter(local);
        parser.populateSchema(adapter, compiled->schema); // no fetch callback: a remote $ref is an error
    } catch (const std::exception& e) {
        return "the schema cannot be used: " + std::string(e.what()).substr(0, 300);
    }
    return JsonSchemaCheck(std::move(compiled));
}

std::string JsonSchemaCheck::violations(const json::value& value) const {
    // valijson recurses as deep as the value: bounded here, as every JSON ksid reads is.
    if (depth_of(value, 65) > 64) return "the value nests deeper than 64 levels";
    if (json::serialize(value).size() > (1u << 20)) return "the value is over 1 MiB: too large to check";
    valijson::Validator validator;
    valijson::ValidationResults results;
    const valijson::adapters::BoostJsonAdapter target(value);
    try {
        if (validator.validate(compiled_->schema, target, &results)) return {};
    } catch (const std::exception& e) {
        return std::string("the value could not be checked: ") + e.what();
    }
    std::string out;
    valijson::ValidationResults::Error error;
    for (int n = 0; n < 3 && results.popError(error); ++n) {
        std::string path;
        for (const auto& p : error.context) path += p;
        if (!out.empty()) out += "; ";
        out += (path.empty() ? std::string("<root>") : path) + ": " + error.description;
    }
    return out.empty() ? std::string("the value does not satisfy the schema") : out;
}

} // namespace ksid::protocol
