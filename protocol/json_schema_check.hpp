#pragma once
// Structured output checked locally (response_format json_schema / json_object, Anthropic output_format), sans
// I/O: a client's JSON Schema (draft 7, with valijson, Debian's libvalijson-dev) compiled once and values
// validated against it. Regular expressions are never run on the event loop: a schema's `pattern` and
// `format` keywords are left to the CLI's own validation (libstdc++'s std::regex can neither be bounded in
// time nor in stack), and `patternProperties`, which cannot be left out without changing what a schema means,
// is refused.
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <memory>
#include <string>

namespace ksid::protocol {

class JsonSchemaCheck {
public:
    // A schema that cannot be compiled (not an object, a remote $ref, patternProperties, ...): why not.
    static boost::system::result<JsonSchemaCheck, std::string> compile(const boost::json::value& schema);
    JsonSchemaCheck(JsonSchemaCheck&&) noexcept;
    JsonSchemaCheck& operator=(JsonSchemaCheck&&) noexcept;
    ~JsonSchemaCheck();

    // Why `value` does not satisfy the schema (the first few violations, with their paths); "" when it does.
    std::string violations(const boost::json::value& value) const;

private:
    struct Compiled;
    explicit JsonSchemaCheck(std::unique_ptr<Compiled> compiled);
    std::unique_ptr<Compiled> compiled_;
};

// The schema as the local check uses it: `pattern` and `format` keywords left out (values under
// properties/definitions names, enum, const, default and examples are data and stay).
boost::json::value without_regex_keywords(const boost::json::value& schema);

// True when the schema uses `patternProperties` as a keyword.
bool uses_pattern_properties(const boost::json::value& schema);

} // namespace ksid::protocol
