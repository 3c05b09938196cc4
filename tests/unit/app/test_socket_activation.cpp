// Socket activation: which passed socket serves what, and what is refused (app/socket_activation).
#include "app/socket_activation.hpp"

#include "tests/unit/temp_directory.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fcntl.h>

using namespace ksid::daemon;

namespace {

PassedSocket unix_socket(int fd, std::string path) {
    PassedSocket s;
    s.fd = fd;
    s.family = AF_UNIX;
    s.stream = s.listening = true;
    s.path = std::move(path);
    return s;
}

PassedSocket tcp_socket(int fd, std::string address, unsigned port, int family = AF_INET) {
    PassedSocket s;
    s.fd = fd;
    s.family = family;
    s.stream = s.listening = true;
    s.address = std::move(address);
    s.port = port;
    return s;
}

ListenTargets targets(bool facade = true) {
    ListenTargets t;
    t.socket_path = "/var/lib/ksid/sockets/claude_daemon.sock";
    if (facade) {
        t.address = "127.0.0.1";
        t.port = 8000;
    }
    return t;
}

} // namespace

TEST_CASE("socket activation: the Unix socket and the facade's port are used") {
    const auto plan = match_passed_sockets(
        {unix_socket(3, "/var/lib/ksid/sockets/claude_daemon.sock"), tcp_socket(4, "127.0.0.1", 8000)},
        targets());
    CHECK_FALSE(plan.error);
    CHECK(plan.legacy_fd == 3);
    CHECK(plan.facade_fd == 4);
    CHECK(plan.notes.size() == 2);
    // Either alone, in any order.
    const auto only_tcp = match_passed_sockets({tcp_socket(3, "127.0.0.1", 8000)}, targets());
    CHECK(only_tcp.legacy_fd == -1);
    CHECK(only_tcp.facade_fd == 3);
    CHECK(match_passed_sockets({}, targets()).legacy_fd == -1);
}

TEST_CASE("socket activation: a passed socket that matches nothing is refused, naming it") {
    auto plan = match_passed_sockets({unix_socket(3, "/elsewhere.sock")}, targets());
    REQUIRE(plan.error);
    CHECK(plan.error->find("fd 3") != std::string::npos);
    CHECK(plan.error->find("/elsewhere.sock") != std::string::npos);
    CHECK(plan.error->find("matches nothing") != std::string::npos);
    CHECK(match_passed_sockets({tcp_socket(3, "127.0.0.1", 8001)}, targets()).error);
    CHECK(match_passed_sockets({tcp_socket(3, "0.0.0.0", 8000)}, targets()).error);
    CHECK(match_passed_sockets({tcp_socket(3, "::1", 8000, AF_INET6)}, targets()).error);
    plan = match_passed_sockets({tcp_socket(3, "127.0.0.1", 8000)}, targets(false));
    REQUIRE(plan.error);
    CHECK(plan.error->find("the facade is off") != std::string::npos);
    auto datagram = unix_socket(3, "/var/lib/ksid/sockets/claude_daemon.sock");
    datagram.stream = false;
    CHECK(match_passed_sockets({datagram}, targets()).error);
    auto connected = unix_socket(3, "/var/lib/ksid/sockets/claude_daemon.sock");
    connected.listening = false; // Accept=yes would pass a connection
    plan = match_passed_sockets({connected}, targets());
    REQUIRE(plan.error);
    CHECK(plan.error->find("not listening") != std::string::npos);
    CHECK(match_passed_sockets({unix_socket(3, "")}, targets()).error); // abstract or unnamed
}

TEST_CASE("socket activation: two sockets for the same listener are refused") {
    const auto plan = match_passed_sockets({unix_socket(3, "/var/lib/ksid/sockets/claude_daemon.sock"),
                                            unix_socket(4, "/var/lib/ksid/sockets/claude_daemon.sock")},
                                           targets());
    REQUIRE(plan.error);
    CHECK(plan.error->find("second socket") != std::string::npos);
}

TEST_CASE("socket activation: IPv6 facade addresses compare as asio writes them") {
    auto t = targets();
    t.address = "::1";
    CHECK(match_passed_sockets({tcp_socket(3, "::1", 8000, AF_INET6)}, t).facade_fd == 3);
}

TEST_CASE("socket activation: the kernel's view of real sockets, paths made canonical") {
    ksid::test::TempDirectory dir("ksid-activation");
    const std::string path = dir / "d.sock";
    const int u = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(u, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(u, 4) == 0);
    const int t = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(t, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0); // not listening
    socklen_t len = sizeof in;
    ::getsockname(t, reinterpret_cast<sockaddr*>(&in), &len);

    // Two consecutive descriptors, as the service manager passes them.
    const int first = ::fcntl(u, F_DUPFD_CLOEXEC, 100);
    REQUIRE(::dup3(t, first + 1, O_CLOEXEC) == first + 1);
    const auto passed = inspect_passed_sockets(first, 2, {"ksid.socket"});
    REQUIRE(passed.size() == 2);
    CHECK(passed[0].name == "ksid.socket");
    CHECK(passed[0].family == AF_UNIX);
    CHECK(passed[0].stream);
    CHECK(passed[0].listening);
    CHECK(passed[0].path == canonical_socket_path(path));
    CHECK(passed[1].name.empty());
    CHECK(passed[1].family == AF_INET);
    CHECK(passed[1].address == "127.0.0.1");
    CHECK(passed[1].port == ntohs(in.sin_port));
    CHECK_FALSE(passed[1].listening);
    for (int fd : {u, t, first, first + 1})
        ::close(fd);
}

TEST_CASE("socket activation: the configured path is compared in its canonical form") {
    ksid::test::TempDirectory dir("ksid-activation");
    std::filesystem::create_directories(dir / "real");
    std::filesystem::create_directory_symlink(dir / "real", dir / "link");
    CHECK(canonical_socket_path(dir / "link/x.sock") == canonical_socket_path(dir / "real/x.sock"));
    CHECK(canonical_socket_path(dir / "real/../real/./x.sock") == canonical_socket_path(dir / "real/x.sock"));
    ksid::config::Config cfg;
    cfg.facade.enabled = true;
    cfg.facade.host = "localhost";
    const auto t = listen_targets(cfg);
    CHECK(t.address == std::optional<std::string>("127.0.0.1"));
    CHECK(t.port == 8000);
    CHECK(t.socket_path.front() == '/');
    cfg.facade.enabled = false;
    CHECK_FALSE(listen_targets(cfg).address);
}
