#include "daemon/services/identity_store.hpp"

#include "daemon/core/filesystem.hpp"
#include "protocol/python_json.hpp"

#include <optional>

namespace ksid::daemon {
namespace json = boost::json;

StateFileLoad IdentityStore::load() {
    auto loaded = load_state_file(path_, max_file_bytes, [](const json::value& v) -> const char* {
        return v.is_object() ? nullptr : "it is not a JSON object";
    });
    identities_.clear();
    // Entries that are not objects are kept as they are (find() and LIST_IDENTITIES skip them), so a save
    // writes them back instead of dropping them.
    if (loaded.kind == StateFileLoad::Kind::loaded) identities_ = std::move(loaded.value.get_object());
    return loaded;
}

const json::object* IdentityStore::find(std::string_view agent_id) const {
    auto it = identities_.find(agent_id);
    if (it == identities_.end() || !it->value().is_object()) return nullptr;
    return &it->value().get_object();
}

std::error_code IdentityStore::put(std::string_view agent_id, json::object identity) {
    std::optional<json::value> previous;
    if (auto it = identities_.find(agent_id); it != identities_.end()) previous = std::move(it->value());
    identities_[agent_id] = std::move(identity);
    auto ec = save();
    if (ec) {
        if (previous)
            identities_[agent_id] = std::move(*previous);
        else
            identities_.stable_erase(identities_.find(agent_id));
    }
    return ec;
}

std::error_code IdentityStore::save() const {
    const std::string content = protocol::to_python_json(identities_, 2);
    if (auto ec = check_state_content(content, max_file_bytes)) return ec;
    return write_file_atomic(path_, content, Durability::fsync);
}

bool IdentityStore::remove(std::string_view agent_id, std::error_code& ec) {
    auto it = identities_.find(agent_id);
    if (it == identities_.end()) return false;
    json::object before = identities_; // rare: a copy is the simple way back to the same order
    identities_.stable_erase(it);
    ec = save();
    if (ec) identities_ = std::move(before);
    return true;
}

} // namespace ksid::daemon
