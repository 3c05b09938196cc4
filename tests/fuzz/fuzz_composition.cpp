// libFuzzer target: composition conditions (the eval() replacement) and substitution, with the input split
// into a condition, a template and a JSON context.
#include "protocol/json_parse.hpp"
#include "protocol/prompt_template.hpp"
#include "protocol/python_condition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::protocol;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto a = input.find('\n'), b = a == std::string_view::npos ? a : input.find('\n', a + 1);
    const std::string_view condition = input.substr(0, a);
    const std::string_view text = a == std::string_view::npos ? std::string_view() : input.substr(a + 1, b - a - 1);
    const std::string_view context_text = b == std::string_view::npos ? std::string_view("{}") : input.substr(b + 1);
    auto context = parse_json_text(context_text, 64);
    boost::json::object ctx;
    if (context && context->is_object()) ctx = context->get_object();
    (void)condition_holds(condition, ctx);
    (void)evaluate_python_expression(condition);
    std::string t(text);
    (void)substitute_variables(t, merge_variables(ctx, ctx), 1 << 20);
    return 0;
}
