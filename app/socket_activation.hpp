#pragma once
// Socket activation (sd_listen_fds(3), ksid.socket): the listening sockets the service manager passed as
// descriptors 3.. are matched to what ksid would bind. An AF_UNIX stream socket bound to daemon.socket
// serves the legacy protocol, an AF_INET/AF_INET6 stream socket on facade.host:facade.port serves the
// facade; a passed socket that matches neither (or a second one for the same) is refused, since ksid would
// otherwise leave a port or path its unit promises unserved. The matching is pure; inspect_passed_sockets
// asks the kernel what each descriptor is.
#include "config/config.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ksid::daemon {

struct PassedSocket {
    int fd = -1;
    std::string name;       // from LISTEN_FDNAMES, "" when none
    int family = 0;         // AF_UNIX, AF_INET, AF_INET6, or whatever getsockname said
    bool stream = false;    // SOCK_STREAM
    bool listening = false; // SO_ACCEPTCONN
    std::string path;       // AF_UNIX: the bound path, absolute with its directory's symlinks resolved
    std::string address;    // AF_INET/AF_INET6: the numeric address as asio::ip::address writes it
    unsigned port = 0;
};

// What ksid would listen on, in the same forms as PassedSocket's.
struct ListenTargets {
    std::string socket_path;            // canonical_socket_path(daemon.socket)
    std::optional<std::string> address; // the facade's, when it is enabled
    unsigned port = 0;
};

struct ActivationPlan {
    int legacy_fd = -1;               // serve the legacy socket on this descriptor instead of binding
    int facade_fd = -1;               // serve the facade on this one
    std::vector<std::string> notes;   // what was used, for the log
    std::optional<std::string> error; // a passed socket that matches nothing: refuse to start
};

// Pure.
ActivationPlan match_passed_sockets(const std::vector<PassedSocket>& passed, const ListenTargets& targets);

// A description of a passed socket for messages: "fd 3 (ksid.socket) AF_UNIX /var/lib/ksid/...".
std::string describe_passed_socket(const PassedSocket& s);

// The path made absolute against the working directory, symlinks in its existing directories resolved.
std::string canonical_socket_path(const std::string& path);

// The targets for `cfg`; nullopt address when the facade is off (or facade.host is not an IP address:
// the facade reports that itself).
ListenTargets listen_targets(const config::Config& cfg);

// Asks the kernel about descriptors first..first+count-1 (getsockname, SO_TYPE, SO_ACCEPTCONN).
std::vector<PassedSocket> inspect_passed_sockets(int first, int count, const std::vector<std::string>& names);

} // namespace ksid::daemon
