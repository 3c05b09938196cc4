#include "daemon/services/identity_store.hpp"

#include "daemon/core/filesystem.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/python_json.hpp"

namespace ksid::daemon {
namespace json = boost::json;

bool IdentityStore::load() {
    auto text = read_small_file(path_, 256u << 20);
    if (!text) return true;
    auto parsed = protocol::parse_json_text(*text);
    if (!parsed || !parsed->is_object()) return false;
    identities_.clear();
    for (auto& kv : parsed->get_object())
        if (kv.value().is_object()) identities_[kv.key()] = kv.value();
    return true;
}

json::object* IdentityStore::find(std::string_view agent_id) {
    auto it = identities_.find(agent_id);
    if (it == identities_.end() || !it->value().is_object()) return nullptr;
    return &it->value().get_object();
}

std::error_code IdentityStore::put(std::string_view agent_id, json::object identity) {
    identities_[agent_id] = std::move(identity);
    return save();
}

std::error_code IdentityStore::save() {
    return write_file_atomic(path_, protocol::to_python_json(identities_, 2), Durability::fsync);
}

bool IdentityStore::remove(std::string_view agent_id, std::error_code& ec) {
    auto it = identities_.find(agent_id);
    if (it == identities_.end()) return false;
    identities_.stable_erase(it);
    ec = save();
    return true;
}

} // namespace ksid::daemon
