#include "daemon/services/state_file.hpp"

#include "daemon/core/filesystem.hpp"
#include "protocol/json_parse.hpp"

namespace ksid::daemon {

namespace {

std::string size_text(std::size_t bytes) {
    if (bytes % (std::size_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

} // namespace

StateFileLoad load_state_file(const std::string& path, std::size_t max_bytes, StateShapeCheck shape) {
    using Kind = StateFileLoad::Kind;
    std::string text;
    std::string problem;
    if (auto ec = read_file_limited(path, max_bytes, text)) {
        if (ec == std::errc::no_such_file_or_directory) return {Kind::missing, nullptr, {}, {}};
        if (ec == std::errc::invalid_argument)
            return {Kind::failed, nullptr, "cannot read it: not a regular file", ec};
        if (ec != std::errc::file_too_large)
            return {Kind::failed, nullptr, "cannot read it: " + ec.message(), ec};
        problem = "it is larger than " + size_text(max_bytes);
    } else if (auto parsed = protocol::parse_exact_json_text(text); !parsed) {
        problem = "it is not valid JSON (" + parsed.error().detail + ")";
    } else if (const char* wrong = shape(*parsed)) {
        problem = wrong;
    } else {
        return {Kind::loaded, std::move(*parsed), {}, {}};
    }
    std::string kept_as;
    if (auto ec = keep_aside(path, kept_as))
        return {Kind::failed, nullptr, problem + ", and it cannot be renamed aside: " + ec.message(), ec};
    return {Kind::kept_aside, nullptr, problem + "; kept as " + kept_as, {}};
}

std::error_code check_state_content(std::string_view content, std::size_t max_bytes) {
    if (content.size() > max_bytes) return std::make_error_code(std::errc::file_too_large);
    if (!protocol::parse_exact_json_text(content)) return std::make_error_code(std::errc::invalid_argument);
    return {};
}

} // namespace ksid::daemon
