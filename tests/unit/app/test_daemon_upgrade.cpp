#include "app/daemon_upgrade.hpp"
#include "app/upgrade_channel.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ksid::daemon;

TEST_CASE("KSID_UPGRADE_FDS reads back what the old daemon wrote, and nothing else") {
    InheritedUpgrade fds{3, 4, 5, 6, true};
    auto parsed = parse_upgrade_fds(format_upgrade_fds(fds));
    REQUIRE(parsed);
    CHECK(parsed->legacy_fd == 3);
    CHECK(parsed->facade_fd == 4);
    CHECK(parsed->lock_fd == 5);
    CHECK(parsed->channel_fd == 6);
    CHECK(parsed->unit_socket);
    auto minimal = parse_upgrade_fds("legacy=3,channel=6");
    REQUIRE(minimal);
    CHECK(minimal->facade_fd == -1);
    CHECK(minimal->lock_fd == -1);
    CHECK_FALSE(minimal->unit_socket);
    for (const char* bad : {"", "legacy=3", "channel=6", "legacy=x,channel=6", "legacy=3,channel=6,other=1",
                            "legacy=,channel=6", "legacy=3;channel=6", "legacy=-3,channel=6"})
        CHECK_FALSE_MESSAGE(parse_upgrade_fds(bad), bad);
}

TEST_CASE("channel records carry JSON and descriptors, one record at a time") {
    int ends[2];
    REQUIRE(make_upgrade_channel(ends));
    const int state = memfd_with("{\"sessions\": [\"a\"]}");
    REQUIRE(state >= 0);
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    REQUIRE(send_record(ends[0], {{"type", "state"}}, {state}));
    REQUIRE(send_record(ends[0], {{"type", "connection"}, {"n", 2}}, {pipe_fds[0], pipe_fds[1]}));
    REQUIRE(send_record(ends[0], {{"type", "ready"}}));
    ::close(state);

    std::string why;
    auto first = receive_record(ends[1], std::chrono::milliseconds(1000), why);
    REQUIRE(first);
    CHECK(first->message.at("type") == "state");
    REQUIRE(first->fds.size() == 1);
    CHECK(read_all_from(first->fds[0], 1024) == std::optional<std::string>("{\"sessions\": [\"a\"]}"));
    CHECK((::fcntl(first->fds[0], F_GETFD) & FD_CLOEXEC) != 0); // never inherited by a child
    ::close(first->fds[0]);

    auto second = receive_record(ends[1], std::chrono::milliseconds(1000), why);
    REQUIRE(second);
    CHECK(second->message.at("n") == 2);
    REQUIRE(second->fds.size() == 2);
    CHECK(::write(second->fds[1], "x", 1) == 1); // the pipe's two ends, passed
    char c = 0;
    CHECK(::read(pipe_fds[0], &c, 1) == 1);
    CHECK(c == 'x');
    for (int fd : second->fds)
        ::close(fd);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);

    auto third = receive_record(ends[1], std::chrono::milliseconds(1000), why);
    REQUIRE(third);
    CHECK(third->fds.empty());

    CHECK_FALSE(receive_record(ends[1], std::chrono::milliseconds(50), why)); // nothing more: a timeout
    CHECK(why == "no answer from the other daemon in time");
    ::close(ends[0]);
    CHECK_FALSE(receive_record(ends[1], std::chrono::milliseconds(1000), why)); // the peer is gone
    CHECK(why == "the other daemon closed the channel");
    ::close(ends[1]);
}

TEST_CASE("a record over the size limit is refused, not cut") {
    int ends[2];
    REQUIRE(make_upgrade_channel(ends));
    CHECK_FALSE(send_record(ends[0], {{"type", std::string(70000, 'x')}}));
    CHECK(errno == EMSGSIZE);
    ::close(ends[0]);
    ::close(ends[1]);
}
