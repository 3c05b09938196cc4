#include "daemon/services/shared_state_store.hpp"

#include "daemon/core/filesystem.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/python_format.hpp"
#include "protocol/python_json.hpp"
#include "protocol/reserved_names.hpp"
#include "protocol/timestamp.hpp"

namespace ksid::daemon {
namespace json = boost::json;

boost::system::result<std::string, SharedStateStore::KeyRejected>
SharedStateStore::file_name_for(const json::value& key) {
    if (key.is_array() || key.is_object()) return KeyRejected{"the key must be a string"};
    const std::string name = protocol::python_str(key); // a missing key is None → None.json, as legacy
    if (name.empty()) return KeyRejected{"the key must not be empty"};
    if (name.size() > 200) return KeyRejected{"the key is longer than 200 bytes"};
    if (name == "." || name == "..") return KeyRejected{"the key must not be '.' or '..'"};
    if (protocol::is_reserved_shared_state_key(name))
        return KeyRejected{"the key is reserved: ksid keeps its own file under that name"};
    for (char c : name) {
        if (c == '/' || c == '\\') return KeyRejected{"the key must not contain a path separator"};
        if (c == '\0') return KeyRejected{"the key must not contain NUL"};
    }
    return std::string(name + ".json");
}

std::error_code SharedStateStore::set(const std::string& file_name, const json::value& value) {
    values_[file_name] = value;
    std::string content = "{\"value\": ";
    protocol::append_python_json(content, value);
    content += ", \"updated_at\": ";
    protocol::append_python_json_string(content, protocol::legacy_timestamp_now());
    content += "}";
    return write_file_atomic(directory_ + "/" + file_name, content, Durability::fsync);
}

json::value SharedStateStore::get(const std::string& file_name) {
    if (auto it = values_.find(file_name); it != values_.end() && !it->second.is_null()) return it->second;
    json::value value = nullptr;
    if (auto text = read_small_file(directory_ + "/" + file_name, 64u << 20)) {
        if (auto parsed = protocol::parse_json_text(*text); parsed && parsed->is_object()) {
            if (const auto* v = parsed->get_object().if_contains("value")) value = *v;
        }
    }
    values_[file_name] = value;
    return value;
}

void SharedStateStore::replace_all(const json::object& values) {
    values_.clear();
    for (const auto& kv : values) {
        auto name = file_name_for(json::value(kv.key()));
        if (name) values_[*name] = kv.value();
    }
}

} // namespace ksid::daemon
