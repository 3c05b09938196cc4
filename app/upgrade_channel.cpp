#include "app/upgrade_channel.hpp"

#include "protocol/json_parse.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ksid::daemon {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t max_record_bytes = 64 * 1024;

enum class Received { record, again, closed, failed };

// One recvmsg; a descriptor that comes with it is kept, a second one closed.
Received receive_once(int channel, ChannelRecord& out, std::string& why) {
    std::array<char, max_record_bytes> buffer;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Received::again;
        why = std::strerror(errno);
        return Received::failed;
    }
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int passed;
            std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.push_back(passed);
        }
    }
    auto close_all = [&] {
        for (int fd : fds)
            ::close(fd);
    };
    if (n == 0) {
        close_all();
        why = "the other daemon closed the channel";
        return Received::closed;
    }
    auto parsed = protocol::parse_json_text(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    if (!parsed || !parsed->is_object() || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        close_all();
        why = "a record that is not a JSON object";
        return Received::failed;
    }
    out.message = std::move(parsed->get_object());
    out.fds = std::move(fds);
    return Received::record;
}

} // namespace

bool make_upgrade_channel(int fds[2]) {
    return ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0;
}

bool send_record(int channel, const json::object& message, const std::vector<int>& fds) {
    const std::string text = json::serialize(message);
    if (text.size() > max_record_bytes) {
        errno = EMSGSIZE;
        return false;
    }
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    if (fds.size() > 4) {
        errno = EINVAL;
        return false;
    }
    if (!fds.empty()) {
        std::memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        if (::sendmsg(channel, &msg, MSG_NOSIGNAL) >= 0) return true;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            pollfd p{channel, POLLOUT, 0};
            if (::poll(&p, 1, 5000) <= 0) return false;
            continue;
        }
        return false;
    }
}

std::optional<ChannelRecord> receive_record(int channel, std::chrono::milliseconds timeout,
                                            std::string& why) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        ChannelRecord record;
        switch (receive_once(channel, record, why)) {
        case Received::record:
            return record;
        case Received::closed:
        case Received::failed:
            return std::nullopt;
        case Received::again:
            break;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            why = "no answer from the other daemon in time";
            return std::nullopt;
        }
        pollfd p{channel, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

int memfd_with(const std::string& text) {
    const int fd = ::memfd_create("ksid-upgrade-state", MFD_CLOEXEC);
    if (fd < 0) return -1;
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int saved = errno;
            ::close(fd);
            errno = saved;
            return -1;
        }
        done += static_cast<std::size_t>(n);
    }
    ::lseek(fd, 0, SEEK_SET);
    return fd;
}

std::optional<std::string> read_all_from(int fd, std::size_t max_bytes) {
    std::string out;
    std::array<char, 65536> buffer;
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::nullopt;
        }
        if (n == 0) return out;
        out.append(buffer.data(), static_cast<std::size_t>(n));
        if (out.size() > max_bytes) return std::nullopt;
    }
}

UpgradeChannel::UpgradeChannel(asio::any_io_executor executor, int fd) : descriptor_(executor, fd) {}

UpgradeChannel::~UpgradeChannel() = default;

asio::awaitable<std::optional<ChannelRecord>> UpgradeChannel::receive() {
    for (;;) {
        if (!descriptor_.is_open()) co_return std::nullopt;
        ChannelRecord record;
        std::string why;
        switch (receive_once(descriptor_.native_handle(), record, why)) {
        case Received::record:
            co_return record;
        case Received::closed:
        case Received::failed:
            co_return std::nullopt;
        case Received::again:
            break;
        }
        auto [ec] = co_await descriptor_.async_wait(asio::posix::stream_descriptor::wait_read,
                                                    asio::as_tuple(asio::use_awaitable));
        if (ec) co_return std::nullopt;
    }
}

bool UpgradeChannel::send(const json::object& message, const std::vector<int>& fds) {
    return descriptor_.is_open() && send_record(descriptor_.native_handle(), message, fds);
}

void UpgradeChannel::close() {
    boost::system::error_code ignored;
    descriptor_.close(ignored);
}

} // namespace ksid::daemon
