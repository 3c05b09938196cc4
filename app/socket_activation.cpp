// Matching the sockets a service manager passed (LISTEN_FDS) to the legacy socket and the facade.
#include "app/socket_activation.hpp"

#include "facade/http_server.hpp"

#include <boost/asio/ip/address.hpp>

#include <arpa/inet.h>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

namespace ksid::daemon {

namespace {

const char* family_name(int family) {
    switch (family) {
    case AF_UNIX:
        return "AF_UNIX";
    case AF_INET:
        return "AF_INET";
    case AF_INET6:
        return "AF_INET6";
    default:
        return "another family";
    }
}

bool is_ip(int family) {
    return family == AF_INET || family == AF_INET6;
}

} // namespace

std::string describe_passed_socket(const PassedSocket& s) {
    std::string out = "fd " + std::to_string(s.fd);
    if (!s.name.empty()) out += " (" + s.name + ")";
    out += std::string(" ") + family_name(s.family);
    if (s.family == AF_UNIX) out += " " + (s.path.empty() ? std::string("(unnamed or abstract)") : s.path);
    if (is_ip(s.family)) out += " " + s.address + ":" + std::to_string(s.port);
    if (!s.stream)
        out += ", not a stream socket";
    else if (!s.listening)
        out += ", not listening";
    return out;
}

ActivationPlan match_passed_sockets(const std::vector<PassedSocket>& passed, const ListenTargets& targets) {
    ActivationPlan plan;
    for (const auto& s : passed) {
        const bool usable = s.stream && s.listening;
        int* slot = nullptr;
        std::string what;
        if (usable && s.family == AF_UNIX && !s.path.empty() && s.path == targets.socket_path) {
            slot = &plan.legacy_fd;
            what = "the legacy socket";
        } else if (usable && is_ip(s.family) && targets.address && s.address == *targets.address &&
                   s.port == targets.port) {
            slot = &plan.facade_fd;
            what = "the HTTP facade";
        }
        if (!slot) {
            std::string wanted = "daemon.socket is " + targets.socket_path;
            wanted += targets.address
                          ? ", the facade's address " + *targets.address + ":" + std::to_string(targets.port)
                          : std::string("; the facade is off");
            plan.error = "socket activation: the passed socket " + describe_passed_socket(s) +
                         " matches nothing ksid serves (" + wanted + "); not starting";
            return plan;
        }
        if (*slot >= 0) {
            plan.error = "socket activation: " + describe_passed_socket(s) + " is a second socket for " +
                         what + " (fd " + std::to_string(*slot) + " is the first); not starting";
            return plan;
        }
        *slot = s.fd;
        plan.notes.push_back("socket activation: " + what + " on the passed " + describe_passed_socket(s));
    }
    return plan;
}

std::string canonical_socket_path(const std::string& path) {
    std::error_code ec;
    auto p = std::filesystem::absolute(path, ec);
    if (ec) return path;
    auto canonical = std::filesystem::weakly_canonical(p, ec);
    return (ec ? p.lexically_normal() : canonical).string();
}

ListenTargets listen_targets(const config::Config& cfg) {
    ListenTargets t;
    t.socket_path = canonical_socket_path(cfg.daemon.socket_path);
    if (cfg.facade.enabled) {
        boost::system::error_code ec;
        const auto addr = boost::asio::ip::make_address(facade::facade_bind_host(cfg.facade.host), ec);
        if (!ec) {
            t.address = addr.to_string();
            t.port = cfg.facade.port;
        }
    }
    return t;
}

std::vector<PassedSocket> inspect_passed_sockets(int first, int count,
                                                 const std::vector<std::string>& names) {
    std::vector<PassedSocket> out;
    for (int i = 0; i < count; ++i) {
        PassedSocket s;
        s.fd = first + i;
        if (static_cast<std::size_t>(i) < names.size() && names[i] != "unknown") s.name = names[i];
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
            s.family = ss.ss_family;
            int type = 0, accepting = 0;
            socklen_t ol = sizeof type;
            s.stream = ::getsockopt(s.fd, SOL_SOCKET, SO_TYPE, &type, &ol) == 0 && type == SOCK_STREAM;
            ol = sizeof accepting;
            s.listening = ::getsockopt(s.fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &ol) == 0 && accepting;
            if (ss.ss_family == AF_UNIX) {
                const auto& un = reinterpret_cast<const sockaddr_un&>(ss);
                const auto n =
                    len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
                if (n > 0 && un.sun_path[0] != '\0') // a path, not an abstract name
                    s.path = canonical_socket_path(std::string(un.sun_path, ::strnlen(un.sun_path, n)));
            } else if (ss.ss_family == AF_INET) {
                const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
                s.address = boost::asio::ip::address_v4(ntohl(in.sin_addr.s_addr)).to_string();
                s.port = ntohs(in.sin_port);
            } else if (ss.ss_family == AF_INET6) {
                const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
                boost::asio::ip::address_v6::bytes_type bytes;
                std::memcpy(bytes.data(), in6.sin6_addr.s6_addr, bytes.size());
                s.address = boost::asio::ip::address_v6(bytes).to_string();
                s.port = ntohs(in6.sin6_port);
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

} // namespace ksid::daemon
