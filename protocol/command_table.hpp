#pragma once
// The 29 legacy commands in the order GET_COMMANDS reports them, each with its group.
#include <span>
#include <string_view>

namespace ksid::protocol {

struct CommandInfo {
    std::string_view name;
    std::string_view group;
};

std::span<const CommandInfo> legacy_commands() noexcept;

// nullptr for a name that is not one of the 29 (case-sensitive).
const CommandInfo* find_legacy_command(std::string_view name) noexcept;

inline constexpr std::string_view legacy_protocol_version = "2.0";

} // namespace ksid::protocol
