#pragma once
// The channel between a daemon and the one that replaces it (RELOAD_DAEMON, app/daemon_upgrade.hpp): a
// SOCK_SEQPACKET socketpair, so that each record is one JSON object of at most max_record_bytes and a
// descriptor passed with it (SCM_RIGHTS) travels with exactly that record. Anything large (the state)
// goes in a memfd passed as a descriptor.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

struct ChannelRecord {
    boost::json::object message;
    std::vector<int> fds; // descriptors that came with it (the receiver owns them)
};

// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC); false with errno set.
bool make_upgrade_channel(int fds[2]);

// Sends one record with up to four descriptors (blocking while the peer's buffer is full, at most 5 s);
// false with errno set (EPIPE: the peer is gone).
bool send_record(int channel, const boost::json::object& message, const std::vector<int>& fds = {});

// Receives one record, waiting at most `timeout` (blocking: start-up, before the event loop runs).
// nullopt on end of channel, timeout, or a record that is not a JSON object; `why` says which.
std::optional<ChannelRecord> receive_record(int channel, std::chrono::milliseconds timeout, std::string& why);

// A memfd holding `text`, positioned at its start, or -1 with errno set.
int memfd_with(const std::string& text);
// The whole content of a descriptor (a memfd from memfd_with), at most max_bytes; nullopt on error.
std::optional<std::string> read_all_from(int fd, std::size_t max_bytes);

// The event loop's side of a channel.
class UpgradeChannel {
public:
    UpgradeChannel(boost::asio::any_io_executor executor, int fd);
    ~UpgradeChannel();

    // The next record; nullopt when the peer closed the channel (or it failed).
    boost::asio::awaitable<std::optional<ChannelRecord>> receive();
    bool send(const boost::json::object& message, const std::vector<int>& fds = {});
    bool is_open() const { return descriptor_.is_open(); }
    void close();

private:
    boost::asio::posix::stream_descriptor descriptor_;
};

} // namespace ksid::daemon
