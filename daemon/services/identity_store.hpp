#pragma once
// Agent identities (spec §5.15-5.19, §9.5): agent id → identity object, in insertion order, persisted as
// shared_state/identities.json (indent 2, ASCII escapes, no trailing newline), written durably after every
// change and read once at start-up. A file that cannot be used is kept aside, never overwritten
// (state_file.hpp).
//
// The file is rewritten whole (KSI's tools read it), but never on the event loop: each identity's text is
// kept serialised, a write hands the worker thread the list of texts, and the worker joins, writes and
// fsyncs them. Changes made while a write runs go to disk together in the next write (group commit), so a
// burst of changes costs one write and other clients are served meanwhile. A change is visible at once;
// its caller resumes when it is on disk. When a write fails, the store goes back to what is on disk: that
// change and every later one not yet written are undone and their callers get the error.
#include "daemon/core/blocking_worker.hpp"
#include "daemon/services/state_file.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace ksid::daemon {

class IdentityStore {
public:
    // The file is read up to this size, so it is never written larger.
    static constexpr std::size_t max_file_bytes = std::size_t{256} << 20;

    IdentityStore(boost::asio::any_io_executor executor, BlockingWorker& worker,
                  std::string path = "shared_state/identities.json");

    // Reads the file. Missing: no identities. Unusable: kept aside, no identities. Failed (unreadable, or
    // not renamed aside): no identities, and the caller must not let the file be overwritten.
    StateFileLoad load();

    const boost::json::object& all() const { return identities_; }
    const boost::json::object* find(std::string_view agent_id) const;
    bool contains(std::string_view agent_id) const { return identities_.contains(agent_id); }

    // Inserts or replaces (keeping the position of an existing id); resumes when the change is on disk.
    // invalid_argument / file_too_large (nothing changed): it would not read back as written, or the file
    // would grow over max_file_bytes.
    boost::asio::awaitable<std::error_code> put(std::string_view agent_id, boost::json::object identity);
    // Removes an id that is there (contains()); resumes when the change is on disk.
    boost::asio::awaitable<std::error_code> remove(std::string_view agent_id);

    // Whole-file writes done so far (for tests and stats: a burst of changes shares them).
    std::uint64_t writes() const { return writes_; }

private:
    using Text = std::shared_ptr<const std::string>;
    struct Waiter {
        std::uint64_t change = 0;
        bool done = false;
        std::error_code result;
    };
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    void set_text(std::string_view agent_id, Text text);
    void forget_text(std::string_view agent_id);
    std::vector<Text> texts_in_order() const;
    boost::asio::awaitable<std::error_code> commit();
    boost::asio::awaitable<void> write_changes();
    void finish(std::uint64_t through, std::error_code result);
    void restore_written();

    boost::asio::any_io_executor executor_;
    BlockingWorker& worker_;
    std::string path_;
    boost::json::object identities_;
    std::unordered_map<std::string, Text, StringHash, std::equal_to<>> texts_; // python_json_member of each
    std::size_t file_bytes_ = 2;                                               // of the file as it is now
    std::vector<Text> written_; // the texts of the file on disk, in order
    std::uint64_t changes_ = 0; // changes applied so far
    std::uint64_t writes_ = 0;
    bool writing_ = false;
    std::vector<std::shared_ptr<Waiter>> waiters_;
    boost::asio::steady_timer wake_; // never expires: cancelled to wake every waiter
};

} // namespace ksid::daemon
