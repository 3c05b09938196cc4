#include "app/daemon_upgrade.hpp"

#include "app/instance_guard.hpp"
#include "daemon/legacy/socket_server.hpp"
#include "daemon/process/posix_spawn.hpp"
#include "daemon/services/message_bus.hpp"
#include "daemon/services/registries.hpp"
#include "protocol/json_parse.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ksid::daemon {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t max_state_bytes = std::size_t{1} << 30;

std::string_view type_of(const ChannelRecord& r) {
    return protocol::string_at(r.message, "type");
}

void close_fds(const std::vector<int>& fds) {
    for (int fd : fds)
        if (fd >= 0) ::close(fd);
}

} // namespace

std::optional<InheritedUpgrade> parse_upgrade_fds(std::string_view text) {
    InheritedUpgrade out;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq + 1 == item.size()) return std::nullopt;
        const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
        int n = 0;
        for (char c : value) {
            if (c < '0' || c > '9' || n > 100000) return std::nullopt;
            n = n * 10 + (c - '0');
        }
        if (key == "legacy")
            out.legacy_fd = n;
        else if (key == "facade")
            out.facade_fd = n;
        else if (key == "lock")
            out.lock_fd = n;
        else if (key == "channel")
            out.channel_fd = n;
        else if (key == "unit_socket")
            out.unit_socket = n != 0;
        else
            return std::nullopt;
    }
    if (out.legacy_fd < 0 || out.channel_fd < 0) return std::nullopt;
    return out;
}

std::string format_upgrade_fds(const InheritedUpgrade& fds) {
    std::string out =
        "legacy=" + std::to_string(fds.legacy_fd) + ",channel=" + std::to_string(fds.channel_fd);
    if (fds.facade_fd >= 0) out += ",facade=" + std::to_string(fds.facade_fd);
    if (fds.lock_fd >= 0) out += ",lock=" + std::to_string(fds.lock_fd);
    if (fds.unit_socket) out += ",unit_socket=1";
    return out;
}

std::optional<InheritedUpgrade> take_upgrade_environment(std::string& problem) {
    const char* value = std::getenv(upgrade_fds_variable);
    if (!value) return std::nullopt;
    const std::string text = value;
    ::unsetenv(upgrade_fds_variable);
    auto fds = parse_upgrade_fds(text);
    if (!fds) {
        problem =
            std::string(upgrade_fds_variable) + "='" + text + "' is not of the form legacy=N,channel=N,...";
        return std::nullopt;
    }
    // Inherited without close-on-exec (dup2): no child of this daemon may keep them.
    for (int fd : {fds->legacy_fd, fds->facade_fd, fds->lock_fd, fds->channel_fd}) {
        if (fd < 0) continue;
        if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            problem =
                std::string(upgrade_fds_variable) + ": descriptor " + std::to_string(fd) + " is not open";
            return std::nullopt;
        }
    }
    return fds;
}

void report_upgrade_failure(const InheritedUpgrade& inherited, const std::string& reason) {
    if (inherited.channel_fd >= 0)
        (void)send_record(inherited.channel_fd,
                          json::object{{"type", "failed"}, {"reason", reason.substr(0, 4000)}});
}

std::optional<InheritedState> receive_inherited_state(int channel, std::chrono::milliseconds timeout,
                                                      std::string& why) {
    if (!send_record(channel, json::object{{"type", "hello"}, {"pid", ::getpid()}})) {
        why = std::string("cannot write to the old daemon: ") + std::strerror(errno);
        return std::nullopt;
    }
    auto record = receive_record(channel, timeout, why);
    if (!record) return std::nullopt;
    if (type_of(*record) != "state" || record->fds.size() != 1) {
        close_fds(record->fds);
        why = "the old daemon sent no state";
        return std::nullopt;
    }
    auto text = read_all_from(record->fds[0], max_state_bytes);
    close_fds(record->fds);
    if (!text) {
        why = "cannot read the old daemon's state";
        return std::nullopt;
    }
    auto parsed = protocol::parse_json_text(*text);
    if (!parsed || !parsed->is_object()) {
        why = "the old daemon's state is not a JSON object";
        return std::nullopt;
    }
    return InheritedState{std::move(parsed->get_object())};
}

void restore_inherited_state(const json::object& state, SessionRegistry& sessions, AgentRegistry& agents,
                             MessageBus& bus) {
    if (const auto* ids = state.if_contains("sessions"); ids && ids->is_array())
        for (const auto& id : ids->get_array())
            if (id.is_string()) sessions.record(std::string(id.get_string()));
    if (const auto* a = protocol::object_at(state, "agents")) agents.agents = *a;
    if (const auto* offline = protocol::object_at(state, "offline")) bus.import_offline(*offline);
    if (const auto* history = state.if_contains("history"); history && history->is_array())
        bus.import_history(history->get_array());
}

asio::awaitable<void> serve_old_daemon(std::shared_ptr<UpgradeChannel> channel, SocketServer& server,
                                       MessageBus& bus, std::shared_ptr<spdlog::logger> log) {
    std::size_t adopted = 0;
    for (;;) {
        auto record = co_await channel->receive();
        if (!record) break;
        const auto type = type_of(*record);
        if (type == "connection" && record->fds.size() == 2) {
            const auto& m = record->message;
            const auto unread_bytes =
                static_cast<std::size_t>(m.contains("unread_bytes") && m.at("unread_bytes").is_int64()
                                             ? m.at("unread_bytes").as_int64()
                                             : 0);
            auto data = read_all_from(record->fds[1], std::size_t{64} << 20);
            ::close(record->fds[1]);
            if (!data || unread_bytes > data->size()) {
                ::close(record->fds[0]);
                log->error("RELOAD_DAEMON: a connection from the old daemon came without its data; closed");
                continue;
            }
            auto connection = server.adopt_connection(
                record->fds[0], std::string_view(*data).substr(0, unread_bytes), data->substr(unread_bytes));
            if (!connection) continue;
            ++adopted;
            std::vector<std::string> ids;
            if (const auto* a = m.if_contains("agent_ids"); a && a->is_array())
                for (const auto& id : a->get_array())
                    if (id.is_string()) ids.emplace_back(id.get_string());
            for (const auto& id : ids)
                bus.connect(id, connection);
            connection->set_bus_agent_id(std::string(protocol::string_at(m, "bus_agent_id")));
            if (const auto* subs = m.if_contains("subscriptions"); subs && subs->is_array())
                for (const auto& pair : subs->get_array()) {
                    if (!pair.is_array() || pair.get_array().size() != 2) continue;
                    const auto& p = pair.get_array();
                    if (!p[0].is_string() || !p[1].is_string()) continue;
                    bus.subscribe(std::string(p[0].get_string()), {std::string(p[1].get_string())});
                }
            for (const auto& id : ids)
                bus.flush_offline(id); // what was forwarded for it while it was on its way
        } else if (type == "publish" && record->fds.size() == 1) {
            auto text = read_all_from(record->fds[0], std::size_t{64} << 20);
            ::close(record->fds[0]);
            if (!text) continue;
            auto parsed = protocol::parse_json_text(*text);
            if (!parsed || !parsed->is_object()) continue;
            const auto& o = parsed->get_object();
            const json::value from = o.contains("from") ? o.at("from") : json::value(nullptr);
            const auto* payload = protocol::object_at(o, "payload");
            bus.publish(from, protocol::string_at(o, "event_type"), payload ? *payload : json::object());
        } else {
            close_fds(record->fds);
        }
    }
    channel->close(); // a reload of this daemon may start now
    log->info("RELOAD_DAEMON: the old daemon has exited; {} persistent connection(s) came over", adopted);
}

// --- The old daemon's side -------------------------------------------------------------------------

json::object DaemonUpgrade::rollback(std::string reason) {
    running_ = false;
    channel_.reset();
    (void)p_.guard.write_pid_file(); // the new daemon may have written its own before it failed
    p_.log->error("Hot reload failed: {}", reason);
    return {{"error", "Hot reload failed: " + reason}, {"status", "rollback_complete"}};
}

std::optional<std::string> DaemonUpgrade::start_new_daemon(int channel_end) {
    if (p_.executable.empty() || p_.argv.empty()) return "ksid does not know the path it was started from";
    // Every inherited descriptor first above 20, so that moving them to 3.. cannot overwrite one another;
    // the slots are contiguous, so that closefrom() after the last leaves nothing else open.
    InheritedUpgrade target{3, -1, -1, 4, p_.unit_socket};
    int next_slot = 5;
    std::vector<std::pair<int, int>> moves; // high copy → target
    auto stage = [&](int fd, int to) -> bool {
        if (fd < 0) return true;
        const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 20);
        if (high < 0) return false;
        moves.emplace_back(high, to);
        return true;
    };
    bool ok = stage(p_.server.listener_fd(), 3) && stage(channel_end, 4);
    const int facade = p_.facade_fd ? p_.facade_fd() : -1;
    if (ok && facade >= 0) {
        target.facade_fd = next_slot++;
        ok = stage(facade, target.facade_fd);
    }
    if (ok && p_.lock_fd >= 0) {
        target.lock_fd = next_slot++;
        ok = stage(p_.lock_fd, target.lock_fd);
    }
    auto close_moves = [&] {
        for (auto [high, to] : moves)
            ::close(high);
    };
    if (!ok) {
        close_moves();
        return std::string("cannot pass the listening sockets: ") + std::strerror(errno);
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    for (auto [high, to] : moves)
        posix_spawn_file_actions_adddup2(&actions, high, to);
    posix_spawn_file_actions_addclosefrom_np(&actions, next_slot);
    posix_spawnattr_t attr;
    init_child_spawn_attributes(attr); // its own group: nothing the old daemon kills reaches it

    const std::string marker = std::string(upgrade_fds_variable) + "=" + format_upgrade_fds(target);
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "KSID_SPAWN_ID=", 14) != 0 && std::strncmp(*e, "KSID_UPGRADE_FDS=", 17) != 0)
            envp.push_back(*e);
    envp.push_back(const_cast<char*>(marker.c_str()));
    // The same service manager: the new daemon notifies it once it is the main process.
    const std::string notify = "NOTIFY_SOCKET=" + p_.notify_socket;
    const std::string watchdog = p_.watchdog ? "WATCHDOG_USEC=" + std::to_string(p_.watchdog->count()) : "";
    if (!p_.notify_socket.empty()) envp.push_back(const_cast<char*>(notify.c_str()));
    if (!watchdog.empty()) envp.push_back(const_cast<char*>(watchdog.c_str()));
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (const auto& a : p_.argv)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, p_.executable.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close_moves();
    if (rc != 0) return "cannot start " + p_.executable + ": " + std::strerror(rc);
    child_ = pid;
    // Listed as ksid's own child, so that the orphan reaper neither reaps nor kills it: it outlives us.
    list_own_child(pid, own_children().next_spawn_id++);
    return std::nullopt;
}

void DaemonUpgrade::abort() {
    if (!running_ || handed_over_) return;
    aborted_ = true;
    stop_new_daemon();
}

asio::awaitable<void> DaemonUpgrade::reap_new_daemon() {
    const pid_t pid = child_;
    const int pidfd = pid > 0 ? open_pidfd(pid) : -1;
    if (pidfd < 0) co_return;
    asio::posix::stream_descriptor exited(p_.executor, pidfd);
    auto [ec] = co_await exited.async_wait(asio::posix::stream_descriptor::wait_read,
                                           asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) child_reaped(pid);
    new_daemon_gone_ = true;
    p_.log->warn(
        "RELOAD_DAEMON: the new daemon (PID {}) has exited; connections not yet handed over stay here", pid);
}

asio::awaitable<void> DaemonUpgrade::wait_until_connections_idle(std::chrono::milliseconds at_most) {
    const auto deadline = std::chrono::steady_clock::now() + at_most;
    asio::steady_timer timer(p_.executor);
    for (;;) {
        bool all_idle = true;
        for (const auto& c : p_.server.persistent_connections())
            all_idle = all_idle && c->can_hand_over();
        if (all_idle || std::chrono::steady_clock::now() >= deadline) co_return;
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void DaemonUpgrade::stop_new_daemon() {
    if (child_ <= 0) return;
    ::kill(-child_, SIGKILL);
    ::kill(child_, SIGKILL);
    int status = 0;
    for (int i = 0; i < 200 && ::waitpid(child_, &status, WNOHANG) == 0; ++i)
        ::usleep(5000); // SIGKILL takes moments; at most 1 s
    child_reaped(child_);
    child_ = -1;
}

asio::awaitable<std::optional<ChannelRecord>> DaemonUpgrade::receive_in_time(std::string& why) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(p_.executor, p_.timeout);
    auto receive = channel_->receive();
    auto expiry = timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto race = std::move(receive) || std::move(expiry);
    auto first = co_await std::move(race);
    if (first.index() == 1) {
        why = "no answer within " + std::to_string(p_.timeout.count()) + " ms";
        co_return std::nullopt;
    }
    auto record = std::get<0>(std::move(first));
    if (!record) {
        // The channel closed: the new daemon is exiting. Its status says why (moments after the close).
        int status = 0;
        pid_t done = 0;
        for (int i = 0; i < 100 && child_ > 0 && (done = ::waitpid(child_, &status, WNOHANG)) == 0; ++i) {
            timer.expires_after(std::chrono::milliseconds(10));
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (child_ > 0 && done == child_) {
            child_reaped(child_);
            child_ = -1;
            why = WIFEXITED(status) ? "it exited with status " + std::to_string(WEXITSTATUS(status))
                                    : "it was killed by signal " + std::to_string(WTERMSIG(status));
        } else {
            why = "it closed the channel";
        }
    }
    co_return record;
}

asio::awaitable<json::object> DaemonUpgrade::run(std::string trigger) {
    if (running_ || handed_over_)
        co_return json::object{{"error", "Hot reload failed: a reload is already in progress"},
                               {"status", "rollback_complete"}};
    if (p_.stopping && p_.stopping())
        co_return json::object{{"error", "Hot reload failed: the daemon is shutting down"},
                               {"status", "rollback_complete"}};
    // A chain would leave the first daemon's late hand-overs without a receiver.
    if (p_.predecessor_draining && p_.predecessor_draining())
        co_return json::object{{"error",
                                "Hot reload failed: the previous reload is still finishing; try again "
                                "when the daemon it replaced has exited"},
                               {"status", "rollback_complete"}};
    running_ = true;
    aborted_ = false;
    p_.log->info("Starting hot reload - spawning new daemon ({}: {})", trigger, p_.executable);
    int ends[2];
    if (!make_upgrade_channel(ends))
        co_return rollback(std::string("cannot make a channel: ") + std::strerror(errno));
    if (auto err = start_new_daemon(ends[1])) {
        ::close(ends[0]);
        ::close(ends[1]);
        co_return rollback(*err);
    }
    ::close(ends[1]);
    channel_ = std::make_shared<UpgradeChannel>(p_.executor, ends[0]);

    p_.log->info("Waiting for new daemon to become healthy");
    std::string why;
    auto hello = co_await receive_in_time(why);
    if (aborted_) co_return rollback("the daemon is shutting down");
    if (!hello || type_of(*hello) != "hello") {
        if (hello) close_fds(hello->fds);
        stop_new_daemon();
        if (hello && type_of(*hello) == "failed")
            co_return rollback("the new daemon refused to start: " +
                               std::string(protocol::string_at(hello->message, "reason")));
        co_return rollback("the new daemon did not start: " + (why.empty() ? "it said something else" : why));
    }

    // From here the new daemon holds every listening socket too; ours stops accepting (connections wait in
    // the backlog), and what is in memory goes over.
    p_.log->info("New daemon healthy, transferring state");
    p_.server.pause_accepting();
    // Persistent connections go with the state, so that the new daemon has every subscriber before the
    // first message is forwarded to it; one still busy after a moment follows when it is idle.
    co_await wait_until_connections_idle(std::chrono::milliseconds(2000));
    if (aborted_) co_return rollback("the daemon is shutting down");
    // The offline queues move (kept here too, a queued message could be delivered by both daemons).
    const json::object offline = p_.bus.export_offline();
    p_.bus.clear_offline();
    auto give_back_offline = [&] { p_.bus.import_offline(offline); };
    json::array sessions;
    for (const auto& id : p_.sessions.ids_in_order())
        sessions.emplace_back(id);
    const json::object state{{"sessions", std::move(sessions)},
                             {"agents", p_.agents.agents},
                             {"offline", offline},
                             {"history", p_.bus.export_history()}};
    const int state_fd = memfd_with(json::serialize(state));
    const bool sent = state_fd >= 0 && channel_->send(json::object{{"type", "state"}}, {state_fd});
    if (state_fd >= 0) ::close(state_fd);
    if (!sent) {
        const std::string why_not = std::strerror(errno);
        stop_new_daemon();
        give_back_offline();
        p_.server.resume_accepting();
        co_return rollback("cannot send the state: " + why_not);
    }
    hand_over_idle_connections(); // behind the state in the channel, ahead of any forwarded message
    // Messages published here from now on are the new daemon's to record and route.
    std::weak_ptr<UpgradeChannel> weak = channel_;
    p_.bus.forward_to(
        [weak, log = p_.log](const json::value& from, std::string_view type, const json::object& payload) {
            auto channel = weak.lock();
            if (!channel) return;
            const int fd = memfd_with(
                json::serialize(json::object{{"from", from}, {"event_type", type}, {"payload", payload}}));
            if (fd < 0 || !channel->send(json::object{{"type", "publish"}}, {fd}))
                log->error("RELOAD_DAEMON: a {} message could not be passed to the new daemon", type);
            if (fd >= 0) ::close(fd);
        });

    auto ready = co_await receive_in_time(why);
    if (aborted_) {
        p_.bus.forward_to({});
        give_back_offline();
        co_return rollback("the daemon is shutting down");
    }
    if (!ready || type_of(*ready) != "ready") {
        if (ready) close_fds(ready->fds);
        p_.bus.forward_to({});
        stop_new_daemon();
        give_back_offline(); // what the new daemon had been forwarded since is lost with it
        p_.server.resume_accepting();
        if (ready && type_of(*ready) == "failed")
            co_return rollback("the new daemon refused to start: " +
                               std::string(protocol::string_at(ready->message, "reason")));
        co_return rollback("the new daemon did not become ready: " +
                           (why.empty() ? "it said something else" : why));
    }
    const auto* pid = ready->message.if_contains("pid");
    const std::string new_pid =
        pid && pid->is_int64() ? std::to_string(pid->as_int64()) : std::to_string(child_);

    if (p_.announce_main_pid) p_.announce_main_pid(std::stol(new_pid));
    p_.server.stop_accepting();
    if (p_.facade_hand_over) p_.facade_hand_over();
    p_.guard.disown_socket(); // the new daemon removes it when it exits
    handed_over_ = true;
    running_ = false;
    p_.log->info("State transferred, performing handover to PID {}", new_pid);
    asio::co_spawn(p_.executor, reap_new_daemon(), asio::detached);
    asio::co_spawn(p_.executor, drain(), asio::detached);
    co_return json::object{{"status", "reloaded"}};
}

void DaemonUpgrade::hand_over_idle_connections() {
    for (const auto& connection : p_.server.persistent_connections()) {
        if (new_daemon_gone_ || !channel_) return; // what is still here is served here until the end
        if (!connection->can_hand_over()) continue;
        const auto bindings = p_.bus.bindings_of(connection.get());
        const std::string bus_agent_id = connection->bus_agent_id();
        auto handover = connection->hand_over();
        if (!handover) continue;
        json::array ids, subs;
        for (const auto& id : bindings.agent_ids)
            ids.emplace_back(id);
        for (const auto& [agent, type] : bindings.subscriptions)
            subs.emplace_back(json::array{json::value(agent), json::value(type)});
        const int data = memfd_with(handover->unread + handover->unsent);
        const json::object record{{"type", "connection"},
                                  {"agent_ids", std::move(ids)},
                                  {"bus_agent_id", bus_agent_id},
                                  {"subscriptions", std::move(subs)},
                                  {"unread_bytes", handover->unread.size()}}; // the rest is unsent output
        if (data < 0 || !channel_->send(record, {handover->fd, data})) {
            p_.log->error("RELOAD_DAEMON: the connection of agent {} could not be passed on", bus_agent_id);
            new_daemon_gone_ = true;
        }
        ::close(handover->fd);
        if (data >= 0) ::close(data);
    }
}

asio::awaitable<void> DaemonUpgrade::drain() {
    const auto deadline = std::chrono::steady_clock::now() + p_.drain_timeout;
    asio::steady_timer timer(p_.executor);
    for (;;) {
        hand_over_idle_connections();
        if ((p_.idle() && p_.server.persistent_connections().empty()) ||
            std::chrono::steady_clock::now() >= deadline)
            break;
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    p_.log->info("Hot reload handover complete - exiting old daemon");
    p_.shut_down("RELOAD_DAEMON: handed over to the new daemon");
}

} // namespace ksid::daemon
