#include "app/fd_limits.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <system_error>

namespace ksid::daemon {

FdLimit raise_fd_limit() {
    FdLimit out;
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        out.error = errno;
        return out;
    }
    // An unlimited hard limit still stops at fs.nr_open (1 048 576 by default) for open files.
    constexpr rlim_t nr_open = rlim_t(1) << 20;
    auto size = [](rlim_t v) { return static_cast<std::size_t>(v == RLIM_INFINITY ? nr_open : v); };
    out.before = out.soft = size(lim.rlim_cur);
    out.hard = size(lim.rlim_max);
    const rlim_t target = lim.rlim_max == RLIM_INFINITY ? nr_open : lim.rlim_max;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < target) {
        rlimit raised = lim;
        raised.rlim_cur = target;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            out.soft = static_cast<std::size_t>(target);
        else
            out.error = errno; // keep the soft limit ksid was given
    }
    return out;
}

std::size_t open_fd_count() {
    std::error_code ec;
    std::size_t n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec))
        ++n;
    return ec ? 0 : n - std::min<std::size_t>(n, 1); // the iterator's own descriptor
}

std::optional<std::string> fit_connections_to_fds(config::Config& config, std::size_t fd_limit,
                                                  std::size_t in_use) {
    const std::size_t rest = fd_limit > in_use ? fd_limit - in_use : 0;
    const std::size_t reserve = std::max<std::size_t>(64, rest / 4);
    const std::size_t room = std::max<std::size_t>(rest > reserve ? rest - reserve : 0, 2);
    std::size_t& socket = config.daemon.max_connections;
    std::size_t facade_unused = 0;
    std::size_t& facade = config.facade.enabled ? config.facade.max_connections : facade_unused;
    if (socket + facade <= room) return std::nullopt;
    const std::size_t want_socket = socket, want_facade = facade;
    if (facade == 0) {
        socket = room;
    } else {
        // Half each, and what one does not need goes to the other.
        socket = std::min(want_socket, room / 2);
        facade = std::min(want_facade, room - socket);
        socket = std::max<std::size_t>(1, std::min(want_socket, room - facade));
        facade = std::max<std::size_t>(1, facade);
    }
    std::string text = "file descriptor limit " + std::to_string(fd_limit) + " (" + std::to_string(in_use) +
                       " open, " + std::to_string(reserve) +
                       " kept for children and files): daemon.max_connections " +
                       std::to_string(want_socket) + " → " + std::to_string(socket);
    if (config.facade.enabled)
        text += ", facade.max_connections " + std::to_string(want_facade) + " → " + std::to_string(facade);
    return text + " (raise the hard limit, e.g. LimitNOFILE= or ulimit -Hn, to allow more)";
}

} // namespace ksid::daemon
