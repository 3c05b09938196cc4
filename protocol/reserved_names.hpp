#pragma once
// Names that clients must not choose because ksid's own files already take them. Session ids name
// claude_logs/<id>.jsonl next to the latest.jsonl link, message_bus.jsonl and task_routing.jsonl; shared
// state keys name shared_state/<key>.json next to identities.json. A client-chosen name equal to one of
// these would write into ksid's file (or point latest.jsonl at itself), so it is refused.
#include <array>
#include <string_view>

namespace ksid::protocol {

inline constexpr std::array<std::string_view, 3> reserved_session_ids{"latest", "message_bus",
                                                                      "task_routing"};
inline constexpr std::array<std::string_view, 1> reserved_shared_state_keys{"identities"};

constexpr bool is_reserved_session_id(std::string_view id) noexcept {
    for (auto name : reserved_session_ids)
        if (name == id) return true;
    return false;
}

constexpr bool is_reserved_shared_state_key(std::string_view key) noexcept {
    for (auto name : reserved_shared_state_keys)
        if (name == key) return true;
    return false;
}

} // namespace ksid::protocol
