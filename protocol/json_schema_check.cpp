#include "protocol/json_schema_check.hpp"

// valijson reports a bad schema by throwing (else it aborts): the throws stay inside compile().
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <exception>
#include <string_view>

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
