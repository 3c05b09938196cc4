#include "daemon/services/shared_state_store.hpp"

#include "daemon/core/filesystem.hpp"
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

StateFileLoad SharedStateStore::load(const std::string& file_name) {
    const std::string path = directory_ + "/" + file_name;
    auto loaded = load_state_file(path, max_file_bytes, [](const json::value& v) -> const char* {
        return v.is_object() && v.get_object().contains("value") ? nullptr
                                                                 : "it is not an object with a \"value\"";
    });
    if (loaded.kind == StateFileLoad::Kind::failed) {
        if (unreadable_reported_.insert(file_name).second) // once: a client may poll the key
            log_->warn("{}: {}; GET_SHARED answers null and SET_SHARED is refused for this key until it can "
                       "be read",
                       path, loaded.detail);
        return loaded;
    }
    if (loaded.kind == StateFileLoad::Kind::kept_aside) log_->warn("{}: {}", path, loaded.detail);
    // A missing file is not remembered (a client may ask for any number of keys that do not exist): it is
    // looked for again before it is first written.
    if (loaded.kind != StateFileLoad::Kind::missing) checked_files_.insert(file_name);
    unreadable_reported_.erase(file_name);
    return loaded;
}

std::error_code SharedStateStore::set(const std::string& file_name, const json::value& value) {
    std::string content = "{\"value\": ";
    protocol::append_python_json(content, value);
    content += ", \"updated_at\": ";
    protocol::append_python_json_string(content, protocol::legacy_timestamp_now());
    content += "}";
    if (auto ec = check_state_content(content, max_file_bytes)) return ec;
    // A file this run has not read or written yet may be one ksid cannot use: keep it, do not overwrite it.
    if (!checked_files_.contains(file_name)) {
        if (auto loaded = load(file_name); loaded.kind == StateFileLoad::Kind::failed) return loaded.error;
    }
    values_[file_name] = value; // in memory even when the write fails, as legacy
    auto ec = write_file_atomic(directory_ + "/" + file_name, content, Durability::fsync);
    if (!ec) checked_files_.insert(file_name);
    return ec;
}

json::value SharedStateStore::get(const std::string& file_name) {
    if (auto it = values_.find(file_name); it != values_.end() && !it->second.is_null()) return it->second;
    auto loaded = load(file_name);
    json::value value = nullptr;
    if (loaded.kind == StateFileLoad::Kind::loaded) value = std::move(loaded.value.get_object()["value"]);
    if (!value.is_null()) values_[file_name] = value; // misses are not cached: they would pile up
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
