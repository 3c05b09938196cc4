// ksid: the KSI daemon replacement. Parses the command line and configuration, then runs the daemon.
#include "config/config_loader.hpp"
#include "app/cli_options.hpp"
#include "app/daemon_app.hpp"
#include "daemon/core/lifecycle.hpp"
#include "facade/auth.hpp"
#include "facade/http_server.hpp"

#include <csignal>
#include <cstdlib>
#include <iostream>

#ifdef __GLIBC__
#include <malloc.h>
#endif

int main(int argc, char** argv) {
    using namespace ksid;
    std::signal(SIGPIPE, SIG_IGN); // a client that goes away must not kill the daemon
#ifdef __GLIBC__
    // What is held for one client (a large reply, a stream's backlog) is often megabytes, briefly. glibc
    // raises its mmap threshold after each large free and then keeps such memory in the heap; a fixed
    // threshold serves it from mmap, so it goes back to the system when the client is served or dropped.
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif

    const auto cli = daemon::parse_cli(std::vector<std::string>(argv + 1, argv + argc));
    if (cli.error) {
        std::cerr << "ksid: " << *cli.error << "\n\n" << daemon::cli_usage();
        return 2;
    }
    const auto& opt = cli.options;
    if (opt.show_help) {
        std::cout << daemon::cli_usage();
        return 0;
    }
    if (opt.show_version) {
        std::cout << "ksid " << KSID_VERSION << "\n";
        return 0;
    }

    config::LoadRequest request;
    request.file = opt.config_file;
    if (!request.file) {
        if (const char* env = std::getenv("KSID_CONFIG"); env && *env) request.file = env;
    }
    auto loaded = config::load_config(request);
    if (!loaded) {
        std::cerr << "ksid: configuration error: " << loaded.error().message << "\n";
        return 1;
    }
    config::Config cfg = std::move(*loaded);
    // The command line beats the file and the environment.
    if (opt.socket_path) cfg.daemon.socket_path = *opt.socket_path;
    if (opt.log_level) {
        auto level = config::normalize_log_level(*opt.log_level);
        if (!level) {
            std::cerr << "ksid: --log-level: expected trace, debug, info, warning, error, critical or off\n";
            return 2;
        }
        cfg.daemon.log_level = *level;
    }
    if (opt.print_config) {
        std::cout << config::render_config_yaml(cfg);
        return 0;
    }
    std::vector<std::string> api_keys;
    if (cfg.facade.enabled) {
        if (auto err = facade::resolve_api_keys(cfg, api_keys)) {
            std::cerr << "ksid: " << *err << "\n";
            return 1;
        }
    }
    daemon::DaemonOptions options{std::move(cfg), opt.hot_reload_from.has_value(), {}};
    if (options.config.facade.enabled) {
        // The HTTP facade, on the daemon's event loop, stopped with it.
        options.extensions.push_back(
            [keys = std::move(api_keys)](daemon::DaemonServices& s) -> std::optional<std::string> {
                auto server = std::make_shared<facade::HttpServer>(
                    s.executor, facade::FacadeDeps{s.config, s.turns, s.log, s.upstream, s.pool}, keys);
                if (auto err = server->listen()) return "HTTP facade: " + *err;
                server->start();
                s.log->info("HTTP facade listening on http://{} ({})", server->endpoint(),
                            keys.empty() ? "no API keys: loopback only"
                                         : std::to_string(keys.size()) + " API key(s)");
                s.lifecycle.on_shutdown([server](daemon::ShutdownBudget budget) -> boost::asio::awaitable<void> {
                    server->stop();
                    co_await server->wait_idle(budget.http_deadline());
                });
                return std::nullopt;
            });
    }
    return daemon::run_daemon(std::move(options));
}
