#include "daemon/services/identity_store.hpp"

#include "daemon/core/filesystem.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/python_json.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>

namespace ksid::daemon {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr int file_indent = 2;

std::size_t file_size(std::size_t member_bytes, std::size_t members) {
    return members == 0 ? 2 : member_bytes + members + 2; // "{" members joined by "," "\n}"
}

std::string join_members(const std::vector<std::shared_ptr<const std::string>>& members) {
    if (members.empty()) return "{}";
    std::size_t bytes = 0;
    for (const auto& m : members)
        bytes += m->size();
    std::string out;
    out.reserve(file_size(bytes, members.size()));
    out += '{';
    for (std::size_t i = 0; i < members.size(); ++i) {
        if (i) out += ',';
        out += *members[i];
    }
    out += "\n}";
    return out;
}

} // namespace

IdentityStore::IdentityStore(asio::any_io_executor executor, BlockingWorker& worker, std::string path)
    : executor_(executor), worker_(worker), path_(std::move(path)), wake_(executor) {
    wake_.expires_at(asio::steady_timer::time_point::max());
}

StateFileLoad IdentityStore::load() {
    auto loaded = load_state_file(path_, max_file_bytes, [](const json::value& v) -> const char* {
        return v.is_object() ? nullptr : "it is not a JSON object";
    });
    identities_.clear();
    texts_.clear();
    file_bytes_ = 2;
    // Entries that are not objects are kept as they are (find() and LIST_IDENTITIES skip them), so a write
    // puts them back instead of dropping them.
    if (loaded.kind == StateFileLoad::Kind::loaded) identities_ = std::move(loaded.value.get_object());
    std::size_t member_bytes = 0;
    for (const auto& kv : identities_) {
        auto text = std::make_shared<const std::string>(
            protocol::python_json_member(kv.key(), kv.value(), file_indent));
        member_bytes += text->size();
        texts_.emplace(std::string(kv.key()), std::move(text));
    }
    file_bytes_ = file_size(member_bytes, identities_.size());
    written_ = texts_in_order();
    return loaded;
}

const json::object* IdentityStore::find(std::string_view agent_id) const {
    auto it = identities_.find(agent_id);
    if (it == identities_.end() || !it->value().is_object()) return nullptr;
    return &it->value().get_object();
}

void IdentityStore::set_text(std::string_view agent_id, Text text) {
    auto it = texts_.find(agent_id);
    if (it == texts_.end()) {
        file_bytes_ += text->size() + 1; // its text and a "," (the first: "{}" becomes "{" text "\n}")
        texts_.emplace(std::string(agent_id), std::move(text));
    } else {
        file_bytes_ = file_bytes_ - it->second->size() + text->size();
        it->second = std::move(text);
    }
}

void IdentityStore::forget_text(std::string_view agent_id) {
    auto it = texts_.find(agent_id);
    if (it == texts_.end()) return;
    file_bytes_ -= it->second->size() + 1;
    texts_.erase(it);
}

std::vector<IdentityStore::Text> IdentityStore::texts_in_order() const {
    std::vector<Text> out;
    out.reserve(identities_.size());
    for (const auto& kv : identities_)
        out.push_back(texts_.find(kv.key())->second);
    return out;
}

asio::awaitable<std::error_code> IdentityStore::put(std::string_view agent_id, json::object identity) {
    json::value value(std::move(identity));
    auto text =
        std::make_shared<const std::string>(protocol::python_json_member(agent_id, value, file_indent));
    // What would not read back exactly is refused before anything changes: checked on this member alone,
    // nested as it is in the file.
    if (auto ec = check_state_content("{" + *text + "\n}", max_file_bytes)) co_return ec;
    const auto existing = texts_.find(agent_id);
    const std::size_t grown = existing == texts_.end()
                                  ? file_bytes_ + text->size() + 1
                                  : file_bytes_ - existing->second->size() + text->size();
    if (grown > max_file_bytes) co_return std::make_error_code(std::errc::file_too_large);
    identities_[agent_id] = std::move(value);
    set_text(agent_id, std::move(text));
    co_return co_await commit();
}

asio::awaitable<std::error_code> IdentityStore::remove(std::string_view agent_id) {
    auto it = identities_.find(agent_id);
    if (it == identities_.end()) co_return std::error_code{};
    identities_.stable_erase(it);
    forget_text(agent_id);
    co_return co_await commit();
}

asio::awaitable<std::error_code> IdentityStore::commit() {
    auto waiter = std::make_shared<Waiter>();
    waiter->change = ++changes_;
    waiters_.push_back(waiter);
    if (!writing_) {
        writing_ = true;
        asio::co_spawn(executor_, write_changes(), asio::detached);
    }
    while (!waiter->done)
        co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return waiter->result;
}

asio::awaitable<void> IdentityStore::write_changes() {
    std::uint64_t covered = 0; // changes the last write settled (written, or undone when it failed)
    do {
        const std::uint64_t through = changes_;
        std::error_code ec;
        std::vector<Text> texts;
        try {
            texts = texts_in_order();
            // Built before the co_await: GCC 12 destroys some temporaries of a co_await expression twice.
            std::function<std::error_code()> job = [path = path_, texts]() {
                return write_file_atomic(path, join_members(texts), Durability::fsync);
            };
            ec = co_await worker_.run(std::move(job));
        } catch (...) {
            ec = std::make_error_code(std::errc::not_enough_memory);
        }
        ++writes_;
        if (ec) {
            restore_written();
            covered = changes_; // the store is back to the file: every change not on disk is undone
        } else {
            written_ = std::move(texts);
            covered = through;
        }
        finish(covered, ec);
    } while (covered < changes_);
    writing_ = false;
}

void IdentityStore::finish(std::uint64_t through, std::error_code result) {
    std::erase_if(waiters_, [&](const std::shared_ptr<Waiter>& w) {
        if (w->change > through) return false;
        w->done = true;
        w->result = result;
        return true;
    });
    wake_.cancel();
}

void IdentityStore::restore_written() {
    // Rare (the disk refused a write): the file's own text, which was checked member by member, is parsed
    // back into the store.
    auto parsed = protocol::parse_exact_json_text(join_members(written_));
    if (!parsed || !parsed->is_object() || parsed->get_object().size() != written_.size())
        return; // cannot be
    identities_ = std::move(parsed->get_object());
    texts_.clear();
    std::size_t member_bytes = 0;
    std::size_t i = 0;
    for (const auto& kv : identities_) {
        const auto& text = written_[i++];
        member_bytes += text->size();
        texts_.emplace(std::string(kv.key()), text);
    }
    file_bytes_ = file_size(member_bytes, identities_.size());
}

} // namespace ksid::daemon
