#include "protocol/command_table.hpp"

#include <array>

namespace ksid::protocol {

namespace {
constexpr std::array<CommandInfo, 29> commands{{
    {"SPAWN", "process_control"},
    {"CLEANUP", "process_control"},
    {"RELOAD", "process_control"},
    {"REGISTER_AGENT", "agent_management"},
    {"GET_AGENTS", "agent_management"},
    {"SPAWN_AGENT", "agent_management"},
    {"ROUTE_TASK", "agent_management"},
    {"SUBSCRIBE", "message_bus"},
    {"PUBLISH", "message_bus"},
    {"AGENT_CONNECTION", "message_bus"},
    {"MESSAGE_BUS_STATS", "message_bus"},
    {"SET_SHARED", "state_management"},
    {"GET_SHARED", "state_management"},
    {"LOAD_STATE", "state_management"},
    {"CREATE_IDENTITY", "identity_management"},
    {"UPDATE_IDENTITY", "identity_management"},
    {"GET_IDENTITY", "identity_management"},
    {"LIST_IDENTITIES", "identity_management"},
    {"REMOVE_IDENTITY", "identity_management"},
    {"HEALTH_CHECK", "system_status"},
    {"GET_COMMANDS", "system_status"},
    {"GET_PROCESSES", "system_status"},
    {"GET_COMPOSITIONS", "system_status"},
    {"GET_COMPOSITION", "system_status"},
    {"VALIDATE_COMPOSITION", "system_status"},
    {"LIST_COMPONENTS", "system_status"},
    {"COMPOSE_PROMPT", "system_status"},
    {"SHUTDOWN", "system_control"},
    {"RELOAD_DAEMON", "system_control"},
}};
} // namespace

std::span<const CommandInfo> legacy_commands() noexcept {
    return commands;
}

const CommandInfo* find_legacy_command(std::string_view name) noexcept {
    for (const auto& c : commands)
        if (c.name == name) return &c;
    return nullptr;
}

} // namespace ksid::protocol
