// Load generator and baselines for scripts/bench (plain POSIX, no Asio, so it measures ksid, not itself).
//
//   ksid_bench floor-server SOCKET
//       the minimal accept/read-line/write/close loop a one-shot HEALTH_CHECK round trip is compared with
//   ksid_bench health-load SOCKET SECONDS CLIENTS
//       CLIENTS threads doing one-shot HEALTH_CHECK round trips; prints "rps=<n> p50_us=<n> p99_us=<n>"
//   ksid_bench spawn-floor CLAUDE SECONDS THREADS
//       the floor for SPAWN: THREADS threads each running CLAUDE with the legacy argv via posix_spawn,
//       prompt on a stdin pipe, stdout/stderr drained, waitpid; same output format
//   ksid_bench spawn-load SOCKET SECONDS CLIENTS
//       CLIENTS threads doing sync SPAWN round trips through ksid
//   ksid_bench idle-connections SOCKET N
//       opens N persistent agent connections (AGENT_CONNECTION connect), prints "ready", holds them until stdin closes
//   ksid_bench fanout-ksid SOCKET SECONDS SUBSCRIBERS PUBLISHERS
//       SUBSCRIBERS agents subscribed to BROADCAST, PUBLISHERS threads publishing; prints "events_per_s=<n>"
//   ksid_bench http-floor PORT | http-get PORT PATH SECONDS CONNECTIONS | chat-load PORT SECONDS CLIENTS |
//   messages-load PORT SECONDS CLIENTS
//       a minimal keep-alive HTTP responder, and keep-alive load generators (GET; POST chat completions;
//       POST Anthropic messages)
//   ksid_bench stream-latency PORT REQUESTS [openai|anthropic]
//       streamed completions (or messages) of the fake claude's FAKE:latency mode; prints the p50/p99 delay
//       per chunk
//   ksid_bench fanout-floor SECONDS SUBSCRIBERS
//       the same line written to SUBSCRIBERS socket pairs in a loop, read by one epoll reader
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unordered_map>
#include <unistd.h>
#include <vector>

namespace {

constexpr char request[] = "{\"command\": \"HEALTH_CHECK\", \"version\": \"2.0\", \"parameters\": {}}\n";
constexpr char reply[] =
    "{\"status\": \"success\", \"command\": \"HEALTH_CHECK\", \"result\": {\"status\": \"healthy\", "
    "\"message\": \"HEALTHY\", \"uptime_info\": \"Daemon is running normally\"}}\n";

sockaddr_un address(const char* path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    return a;
}

int floor_server(const char* path) {
    ::unlink(path);
    int l = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = address(path);
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 128) != 0) {
        std::perror("floor-server");
        return 1;
    }
    char buf[4096];
    for (;;) {
        int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::string line;
        for (;;) { // read one line
            ssize_t n = ::read(c, buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, n);
            if (line.find('\n') != std::string::npos) break;
        }
        if (!line.empty()) (void)!::write(c, reply, sizeof reply - 1);
        ::close(c);
    }
}

extern "C" char** environ;

// One run of the fake claude the way any daemon must do it: pipes, spawn, prompt in, output out, reap.
bool spawn_once(const char* claude) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    const char* argv[] = {claude, "--model", "sonnet", "--print", "--output-format", "json", "--allowedTools",
                          "Task Bash Glob Grep LS Read Edit MultiEdit Write WebFetch WebSearch", nullptr};
    pid_t pid;
    int rc = ::posix_spawn(&pid, claude, &fa, &attr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        return false;
    }
    static const char prompt[] = "hello from the benchmark";
    (void)!::write(in[1], prompt, sizeof prompt - 1);
    ::close(in[1]);
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    std::size_t got = 0;
    while (open_fds > 0 && ::poll(fds, 2, -1) > 0) {
        for (auto& p : fds) {
            if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP))) continue;
            ssize_t n = ::read(p.fd, buf, sizeof buf);
            if (n > 0) {
                if (p.fd == out[0]) got += n;
            } else {
                p.fd = -1;
                --open_fds;
            }
        }
    }
    ::close(out[0]);
    ::close(err[0]);
    int status;
    ::waitpid(pid, &status, 0);
    return got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool spawn_round_trip(const sockaddr_un& a) {
    static const char spawn_request[] =
        "{\"command\": \"SPAWN\", \"version\": \"2.0\", \"parameters\": {\"mode\": \"sync\", \"type\": \"claude\", "
        "\"prompt\": \"hello from the benchmark\", \"model\": \"sonnet\", \"enable_tools\": true}}\n";
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    bool ok = ::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
              ::write(s, spawn_request, sizeof spawn_request - 1) == static_cast<ssize_t>(sizeof spawn_request - 1);
    std::string reply;
    char buf[4096];
    while (ok) {
        ssize_t n = ::read(s, buf, sizeof buf);
        if (n < 0) ok = false;
        if (n <= 0) break;
        reply.append(buf, n);
    }
    ::close(s);
    return ok && reply.find("\"session_id\"") != std::string::npos && reply.find("\"error\"") == std::string::npos;
}

bool round_trip(const sockaddr_un& a) {
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    bool ok = ::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
              ::write(s, request, sizeof request - 1) == static_cast<ssize_t>(sizeof request - 1);
    char buf[4096];
    std::size_t got = 0;
    while (ok) { // read until the daemon closes
        ssize_t n = ::read(s, buf, sizeof buf);
        if (n < 0) ok = false;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(s);
    return ok && got > 0;
}

template <class Op>
int load(double seconds, int clients, Op op) {
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> latencies(clients);
    std::atomic<long> failures{0};
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < clients; ++i)
        threads.emplace_back([&, i] {
            while (!stop.load(std::memory_order_relaxed)) {
                const auto t0 = std::chrono::steady_clock::now();
                if (!op()) ++failures;
                latencies[i].push_back(
                    std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
            }
        });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads)
        t.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> all;
    for (auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
        return all.empty() ? 0.0 : all[static_cast<std::size_t>(p * (all.size() - 1))];
    };
    std::printf("rps=%.0f p50_us=%.1f p99_us=%.1f failures=%ld\n", all.size() / elapsed, pct(0.5), pct(0.99),
                failures.load());
    return failures.load() == 0 ? 0 : 1;
}

int connect_to(const sockaddr_un& a) {
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0 && ::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        ::close(s);
        return -1;
    }
    return s;
}

bool send_line(int s, const std::string& line) {
    return ::write(s, line.data(), line.size()) == static_cast<ssize_t>(line.size());
}

// One reply line. Reads stop at the newline (nothing follows a reply until the next request).
std::string read_reply(int s) {
    std::string r;
    char buf[16384];
    while (r.empty() || r.back() != '\n') {
        ssize_t n = ::read(s, buf, sizeof buf);
        if (n <= 0) break;
        r.append(buf, static_cast<std::size_t>(n));
    }
    if (!r.empty() && r.back() == '\n') r.pop_back();
    return r;
}

std::vector<int> connect_agents(const sockaddr_un& a, int n, const char* prefix) {
    std::vector<int> fds;
    for (int i = 0; i < n; ++i) {
        int s = connect_to(a);
        if (s < 0) {
            std::perror("connect");
            break;
        }
        const std::string id = std::string(prefix) + std::to_string(i);
        send_line(s, "{\"command\": \"AGENT_CONNECTION\", \"version\": \"2.0\", \"parameters\": {\"action\": "
                     "\"connect\", \"agent_id\": \"" + id + "\"}}\n");
        if (read_reply(s).find("connected") == std::string::npos) {
            std::fprintf(stderr, "connect %d failed\n", i);
            break;
        }
        fds.push_back(s);
    }
    return fds;
}

void raise_fd_limit() {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
}

int idle_connections(const char* path, int n) {
    raise_fd_limit();
    auto fds = connect_agents(address(path), n, "idle-");
    std::printf("ready %zu\n", fds.size());
    std::fflush(stdout);
    char c;
    while (::read(0, &c, 1) > 0) {
    }
    for (int fd : fds) ::close(fd);
    return fds.size() == static_cast<std::size_t>(n) ? 0 : 1;
}

// Counts lines arriving on any of `fds` until `stop`.
long count_lines(const std::vector<int>& fds, const std::atomic<bool>& stop) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (int fd : fds) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    long lines = 0;
    std::vector<epoll_event> events(1024);
    static char buf[1 << 16];
    while (!stop.load(std::memory_order_relaxed)) {
        int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 50);
        for (int i = 0; i < n; ++i) {
            ssize_t got = ::read(events[i].data.fd, buf, sizeof buf);
            for (ssize_t k = 0; k < got; ++k) lines += buf[k] == '\n';
        }
    }
    ::close(ep);
    return lines;
}

const std::string event_line = "{\"id\": \"1750605108.5892332\", \"type\": \"BROADCAST\", \"from\": \"pub\", "
                               "\"timestamp\": \"2025-06-22T15:11:48.589239Z\", \"content\": \"fan-out benchmark\"}\n";

int fanout_floor(double seconds, int subscribers) {
    raise_fd_limit();
    std::vector<int> readers, writers;
    for (int i = 0; i < subscribers; ++i) {
        int sv[2];
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        writers.push_back(sv[0]);
        readers.push_back(sv[1]);
    }
    std::atomic<bool> stop{false};
    long lines = 0;
    std::thread reader([&] { lines = count_lines(readers, stop); });
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end)
        for (int fd : writers) send_line(fd, event_line);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
    reader.join();
    std::printf("events_per_s=%.0f\n", lines / elapsed);
    for (int fd : readers) ::close(fd);
    for (int fd : writers) ::close(fd);
    return 0;
}

int fanout_ksid(const char* path, double seconds, int subscribers, int publishers) {
    raise_fd_limit();
    const auto a = address(path);
    auto fds = connect_agents(a, subscribers, "sub-");
    for (std::size_t i = 0; i < fds.size(); ++i) {
        int s = connect_to(a);
        send_line(s, "{\"command\": \"SUBSCRIBE\", \"version\": \"2.0\", \"parameters\": {\"agent_id\": \"sub-" +
                         std::to_string(i) + "\", \"event_types\": [\"BROADCAST\"]}}\n");
        read_reply(s);
        ::close(s);
    }
    std::atomic<bool> stop{false}, stop_reader{false};
    long lines = 0;
    std::thread reader([&] { lines = count_lines(fds, stop_reader); });
    const std::string publish = "{\"command\": \"PUBLISH\", \"version\": \"2.0\", \"parameters\": {\"from_agent\": "
                                "\"pub\", \"event_type\": \"BROADCAST\", \"payload\": {\"content\": \"fan-out benchmark\"}}}\n";
    std::vector<std::thread> pubs;
    const auto start = std::chrono::steady_clock::now();
    for (int p = 0; p < publishers; ++p)
        pubs.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                int s = connect_to(a);
                if (s < 0) continue;
                send_line(s, publish);
                read_reply(s);
                ::close(s);
            }
        });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : pubs) t.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop_reader = true;
    reader.join();
    std::printf("events_per_s=%.0f subscribers=%zu\n", lines / elapsed, fds.size());
    for (int fd : fds) ::close(fd);
    return 0;
}

// ---- HTTP (facade) benchmarks ----

int listen_tcp(int port) {
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 1024) != 0) {
        std::perror("listen");
        std::exit(1);
    }
    return l;
}

int connect_tcp(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(s);
        return -1;
    }
    int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

// The minimal HTTP responder /health is compared with: epoll, keep-alive, a fixed 200 per request.
int http_floor(int port) {
    int l = listen_tcp(port);
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = l;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    static const std::string body = "{\"status\":\"ok\"}";
    static const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                        std::to_string(body.size()) + "\r\n\r\n" + body;
    std::unordered_map<int, std::string> pending;
    std::vector<epoll_event> events(256);
    char buf[65536];
    for (;;) {
        int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == l) {
                int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
                if (c < 0) continue;
                int one = 1;
                ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                epoll_event cev{};
                cev.events = EPOLLIN;
                cev.data.fd = c;
                ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                continue;
            }
            ssize_t got = ::read(fd, buf, sizeof buf);
            if (got <= 0) {
                ::close(fd);
                pending.erase(fd);
                continue;
            }
            auto& p = pending[fd];
            p.append(buf, static_cast<std::size_t>(got));
            std::size_t pos;
            while ((pos = p.find("\r\n\r\n")) != std::string::npos) {
                p.erase(0, pos + 4);
                (void)!::write(fd, response.data(), response.size());
            }
        }
    }
}

// Reads one HTTP response (Content-Length or chunked) from a keep-alive connection; the body is returned.
bool read_http_response(int s, std::string& carry, std::string& body) {
    char buf[65536];
    for (;;) {
        auto head_end = carry.find("\r\n\r\n");
        if (head_end != std::string::npos) {
            const std::string head = carry.substr(0, head_end);
            std::size_t length = 0;
            bool chunked = head.find("chunked") != std::string::npos;
            if (auto p = head.find("Content-Length: "); p != std::string::npos) length = std::stoul(head.substr(p + 16));
            if (!chunked && carry.size() >= head_end + 4 + length) {
                body = carry.substr(head_end + 4, length);
                carry.erase(0, head_end + 4 + length);
                return head.compare(0, 12, "HTTP/1.1 200") == 0;
            }
            if (chunked && carry.find("\r\n0\r\n\r\n", head_end) != std::string::npos) {
                const auto end = carry.find("\r\n0\r\n\r\n", head_end) + 7;
                body = carry.substr(head_end + 4, end - head_end - 4);
                carry.erase(0, end);
                return true;
            }
        }
        ssize_t n = ::read(s, buf, sizeof buf);
        if (n <= 0) return false;
        carry.append(buf, static_cast<std::size_t>(n));
    }
}

int http_load(int port, const std::string& method, const std::string& path, const std::string& payload, double seconds,
              int clients) {
    const std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                                "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
    return load(seconds, clients, [&] {
        thread_local int conn = -1; // one keep-alive connection per client thread
        thread_local std::string rest;
        if (conn < 0) {
            conn = connect_tcp(port);
            rest.clear();
        }
        if (conn < 0) return false;
        if (!send_line(conn, request)) {
            ::close(conn);
            conn = -1;
            return false;
        }
        std::string body;
        if (!read_http_response(conn, rest, body)) {
            ::close(conn);
            conn = -1;
            return false;
        }
        return true;
    });
}

// Latency a streamed chunk adds: the fake claude stamps each delta with CLOCK_REALTIME when it writes it;
// this client notes when the chunk arrives. Prints the p50/p99 of the difference.
int stream_latency(int port, int requests, bool anthropic) {
    const std::string payload = std::string("{\"model\":\"sonnet\",\"stream\":true,") +
                                (anthropic ? "\"max_tokens\":1024," : "") +
                                "\"messages\":[{\"role\":\"user\",\"content\":\"FAKE:latency\"}]}";
    const std::string request = std::string("POST ") + (anthropic ? "/v1/messages" : "/v1/chat/completions") +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
    const std::string end_marker = anthropic ? "message_stop" : "[DONE]";
    std::vector<double> delays;
    char buf[65536];
    for (int r = 0; r < requests; ++r) {
        int s = connect_tcp(port);
        if (s < 0) return 1;
        send_line(s, request);
        std::string data;
        for (;;) {
            ssize_t n = ::read(s, buf, sizeof buf);
            if (n <= 0) break;
            const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
            data.append(buf, static_cast<std::size_t>(n));
            std::size_t pos;
            while ((pos = data.find("T@")) != std::string::npos) {
                const auto end = data.find('@', pos + 2);
                if (end == std::string::npos) break;
                const long long stamp = std::stoll(data.substr(pos + 2, end - pos - 2));
                delays.push_back((now - stamp) / 1000.0);
                data.erase(0, end + 1);
            }
            if (data.find(end_marker) != std::string::npos) break;
        }
        ::close(s);
    }
    std::sort(delays.begin(), delays.end());
    auto pct = [&](double p) { return delays.empty() ? 0.0 : delays[static_cast<std::size_t>(p * (delays.size() - 1))]; };
    std::printf("chunks=%zu p50_us=%.1f p99_us=%.1f\n", delays.size(), pct(0.5), pct(0.99));
    return delays.empty() ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "floor-server" && argc == 3) return floor_server(argv[2]);
    if (mode == "http-floor" && argc == 3) return http_floor(std::atoi(argv[2]));
    if (mode == "http-get" && argc == 6) return http_load(std::atoi(argv[2]), "GET", argv[3], "", std::atof(argv[4]), std::atoi(argv[5]));
    if (mode == "chat-load" && argc == 5) {
        const std::string payload = "{\"model\":\"sonnet\",\"messages\":[{\"role\":\"user\",\"content\":\"hello from the benchmark\"}]}";
        return http_load(std::atoi(argv[2]), "POST", "/v1/chat/completions", payload, std::atof(argv[3]), std::atoi(argv[4]));
    }
    if (mode == "messages-load" && argc == 5) {
        const std::string payload = "{\"model\":\"sonnet\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\","
                                    "\"content\":\"hello from the benchmark\"}]}";
        return http_load(std::atoi(argv[2]), "POST", "/v1/messages", payload, std::atof(argv[3]), std::atoi(argv[4]));
    }
    if (mode == "stream-latency" && (argc == 4 || argc == 5))
        return stream_latency(std::atoi(argv[2]), std::atoi(argv[3]), argc == 5 && std::string(argv[4]) == "anthropic");
    if (mode == "idle-connections" && argc == 4) return idle_connections(argv[2], std::atoi(argv[3]));
    if (mode == "fanout-floor" && argc == 4) return fanout_floor(std::atof(argv[2]), std::atoi(argv[3]));
    if (mode == "fanout-ksid" && argc == 6)
        return fanout_ksid(argv[2], std::atof(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]));
    if (argc == 5) {
        const char* target = argv[2];
        const double seconds = std::atof(argv[3]);
        const int clients = std::atoi(argv[4]);
        const auto a = address(target);
        if (mode == "health-load") return load(seconds, clients, [&] { return round_trip(a); });
        if (mode == "spawn-load") return load(seconds, clients, [&] { return spawn_round_trip(a); });
        if (mode == "spawn-floor") return load(seconds, clients, [&] { return spawn_once(target); });
    }
    std::fprintf(stderr, "usage: ksid_bench floor-server SOCKET | health-load SOCKET SECONDS CLIENTS | "
                         "spawn-floor CLAUDE SECONDS THREADS | spawn-load SOCKET SECONDS CLIENTS\n");
    return 2;
}
