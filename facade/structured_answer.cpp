#include "facade/structured_answer.hpp"

#include "protocol/json_schema_check.hpp"

#include <boost/json/serialize.hpp>

namespace ksid::facade {

StructuredContent structured_content(const daemon::TurnAnswer& answer, const boost::json::value& schema) {
    if (!answer.structured_output)
        return {true, "the model did not return JSON for the requested schema"};
    auto check = protocol::JsonSchemaCheck::compile(schema); // compiled at parse time: this succeeds
    if (!check) return {true, "the schema cannot be checked: " + check.error()};
    const auto why = check->violations(*answer.structured_output);
    if (!why.empty()) return {true, "the model's JSON does not satisfy the schema: " + why};
    return {false, boost::json::serialize(*answer.structured_output)};
}

} // namespace ksid::facade
