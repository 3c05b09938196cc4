// systemd notify without libsystemd: the environment it passes, the messages, the address, and one real
// datagram to a socket bound here.
#include "daemon/core/service_notify.hpp"

#include "tests/unit/temp_directory.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

using namespace ksid::daemon;
using std::chrono::microseconds;

TEST_CASE("service environment: nothing set means nothing to do") {
    const auto env = parse_service_environment(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 42);
    CHECK(env.notify_socket.empty());
    CHECK_FALSE(env.watchdog);
    CHECK(env.listen_fds == 0);
    CHECK(env.problems.empty());
}

TEST_CASE("service environment: the watchdog is ours when WATCHDOG_PID is unset or our pid") {
    CHECK(parse_service_environment("/run/n", "200000", nullptr, nullptr, nullptr, nullptr, 42).watchdog ==
          microseconds(200000));
    CHECK(parse_service_environment("/run/n", "200000", "42", nullptr, nullptr, nullptr, 42).watchdog ==
          microseconds(200000));
    const auto other = parse_service_environment("/run/n", "200000", "41", nullptr, nullptr, nullptr, 42);
    CHECK_FALSE(other.watchdog);
    CHECK(other.problems.empty());
    for (const char* bad : {"0", "-5", "12x", ""}) {
        const auto env = parse_service_environment("/run/n", bad, nullptr, nullptr, nullptr, nullptr, 42);
        CHECK_FALSE(env.watchdog);
        CHECK(env.problems.size() == 1);
    }
}

TEST_CASE("service environment: LISTEN_FDS counts only when LISTEN_PID is us") {
    auto env = parse_service_environment(nullptr, nullptr, nullptr, "42", "2", "ksid.socket:http", 42);
    CHECK(env.listen_fds == 2);
    CHECK(env.listen_fd_names == std::vector<std::string>{"ksid.socket", "http"});
    CHECK(parse_service_environment(nullptr, nullptr, nullptr, "41", "2", nullptr, 42).listen_fds == 0);
    CHECK(parse_service_environment(nullptr, nullptr, nullptr, nullptr, "2", nullptr, 42).listen_fds == 0);
    env = parse_service_environment(nullptr, nullptr, nullptr, "42", "two", nullptr, 42);
    CHECK(env.listen_fds == 0);
    CHECK(env.problems.size() == 1);
    CHECK(parse_service_environment(nullptr, nullptr, nullptr, "42", "1000", nullptr, 42).listen_fds == 0);
}

TEST_CASE("service environment: a NOTIFY_SOCKET that is neither a path nor abstract is reported") {
    auto env = parse_service_environment("relative/sock", nullptr, nullptr, nullptr, nullptr, nullptr, 1);
    CHECK(env.notify_socket.empty());
    CHECK(env.problems.size() == 1);
    env = parse_service_environment("vsock:2:1234", nullptr, nullptr, nullptr, nullptr, nullptr, 1);
    CHECK(env.notify_socket.empty());
    CHECK(parse_service_environment("@abstract", nullptr, nullptr, nullptr, nullptr, nullptr, 1)
              .notify_socket == "@abstract");
}

TEST_CASE("notify messages: one assignment a line, the status on one line") {
    CHECK(ready_message("serving sockets/claude_daemon.sock") ==
          "READY=1\nSTATUS=serving sockets/claude_daemon.sock");
    CHECK(stopping_message("stopping (SIGTERM)") == "STOPPING=1\nSTATUS=stopping (SIGTERM)");
    CHECK(status_message("a\nREADY=1") == "STATUS=a READY=1"); // a status cannot forge an assignment
    CHECK(reloading_message(microseconds(123456789), "reloading") ==
          "RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=reloading");
    CHECK(status_message(std::string(2000, 'x')).size() == 7 + 512);
    CHECK(watchdog_message == "WATCHDOG=1");
}

TEST_CASE("notify address: a path with its NUL, an abstract name without") {
    const auto path = notify_address("/run/systemd/notify");
    REQUIRE(path);
    CHECK(std::string(path->addr.sun_path) == "/run/systemd/notify");
    CHECK(path->length == offsetof(sockaddr_un, sun_path) + 20);
    const auto abstract = notify_address("@ksid/notify");
    REQUIRE(abstract);
    CHECK(abstract->addr.sun_path[0] == '\0');
    CHECK(std::string(abstract->addr.sun_path + 1, 11) == "ksid/notify");
    CHECK(abstract->length == offsetof(sockaddr_un, sun_path) + 12);
    CHECK_FALSE(notify_address(""));
    CHECK_FALSE(notify_address("@"));
    CHECK_FALSE(notify_address("run/notify"));
    CHECK_FALSE(notify_address("/" + std::string(200, 'a')));
}

TEST_CASE("notifier: silent without a socket, one datagram per message with one") {
    ServiceNotifier none{ServiceEnvironment{}};
    CHECK_FALSE(none.enabled());
    CHECK_FALSE(none.ready("x"));
    CHECK(none.describe().empty());

    ksid::test::TempDirectory dir("ksid-notify");
    const std::string path = dir / "notify";
    const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    const auto addr = notify_address(path);
    REQUIRE(addr);
    REQUIRE(::bind(s, reinterpret_cast<const sockaddr*>(&addr->addr), addr->length) == 0);
    ServiceEnvironment env;
    env.notify_socket = path;
    env.watchdog = microseconds(200000);
    ServiceNotifier notifier{env};
    CHECK(notifier.enabled());
    CHECK(notifier.describe() == "notify socket " + path + ", watchdog every 100 ms");
    CHECK(notifier.ready("serving"));
    CHECK(notifier.watchdog_ping());
    char buf[256];
    ssize_t n = ::recv(s, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(std::string(buf, n > 0 ? n : 0) == "READY=1\nSTATUS=serving");
    n = ::recv(s, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(std::string(buf, n > 0 ? n : 0) == "WATCHDOG=1");
    CHECK(notifier.reloading("reloading"));
    n = ::recv(s, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(std::string(buf, n > 0 ? n : 0).rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
    ::close(s);
    CHECK_FALSE(notifier.stopping("gone")); // nobody listens any more: an error value, no exception
    CHECK_FALSE(notifier.last_error().empty());
}

TEST_CASE("take_service_environment: read once, then gone from what children inherit") {
    const std::string pid = std::to_string(::getpid());
    ::setenv("NOTIFY_SOCKET", "@ksid-test", 1);
    ::setenv("WATCHDOG_USEC", "4000000", 1);
    ::setenv("WATCHDOG_PID", pid.c_str(), 1);
    ::setenv("LISTEN_PID", pid.c_str(), 1);
    ::setenv("LISTEN_FDS", "0", 1);
    ::setenv("LISTEN_FDNAMES", "", 1);
    const auto env = take_service_environment();
    CHECK(env.notify_socket == "@ksid-test");
    CHECK(env.watchdog == microseconds(4000000));
    CHECK(env.listen_fds == 0);
    for (const char* name :
         {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"})
        CHECK(std::getenv(name) == nullptr);
}
