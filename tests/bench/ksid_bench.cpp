// Load generator and baselines for scripts/bench (plain POSIX, no Asio, so it measures ksid, not itself).
//
//   ksid_bench floor-server SOCKET
//       the minimal accept/read-line/write/close loop a one-shot HEALTH_CHECK round trip is compared with
//   ksid_bench health-load SOCKET SECONDS CLIENTS
//       CLIENTS threads doing one-shot HEALTH_CHECK round trips; prints "rps=<n> p50_us=<n> p99_us=<n>"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
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

int health_load(const char* path, double seconds, int clients) {
    const auto a = address(path);
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> latencies(clients);
    std::atomic<long> failures{0};
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < clients; ++i)
        threads.emplace_back([&, i] {
            while (!stop.load(std::memory_order_relaxed)) {
                const auto t0 = std::chrono::steady_clock::now();
                if (!round_trip(a)) ++failures;
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

} // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "floor-server" && argc == 3) return floor_server(argv[2]);
    if (mode == "health-load" && argc == 5)
        return health_load(argv[2], std::atof(argv[3]), std::atoi(argv[4]));
    std::fprintf(stderr, "usage: ksid_bench floor-server SOCKET | health-load SOCKET SECONDS CLIENTS\n");
    return 2;
}
