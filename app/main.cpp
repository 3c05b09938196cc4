// ksid: the KSI daemon replacement. Parses the command line and configuration, then runs the daemon.
#include "app/admin_cli.hpp"
#include "app/worker_app.hpp"
#include "app/cli_options.hpp"
#include "app/daemon_app.hpp"
#include "config/config_loader.hpp"
#include "daemon/core/lifecycle.hpp"
#include "daemon/core/service_notify.hpp"
#include "facade/auth.hpp"
#include "daemon/services/usage_governor.hpp"
#include "facade/http_server.hpp"

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace {

// The configuration from the file, the environment and the command line (which wins): at start-up and
// again on SIGHUP. The error text says what is wrong; a bad --log-level is the command line's (exit 2).
boost::system::result<ksid::config::Config, std::string> effective_config(const ksid::daemon::CliOptions& opt,
                                                                          bool& bad_command_line) {
    using namespace ksid;
    config::LoadRequest request;
    request.file = opt.config_file;
    if (!request.file) {
        if (const char* env = std::getenv("KSID_CONFIG"); env && *env) request.file = env;
    }
    auto loaded = config::load_config(request);
    if (!loaded) return "configuration error: " + loaded.error().message;
    config::Config cfg = std::move(*loaded);
    if (opt.socket_path) cfg.daemon.socket_path = *opt.socket_path;
    if (opt.log_level) {
        auto level = config::normalize_log_level(*opt.log_level);
        if (!level) {
            bad_command_line = true;
            return std::string("--log-level: expected trace, debug, info, warning, error, critical or off");
        }
        cfg.daemon.log_level = *level;
    }
    return cfg;
}

} // namespace

int main(int argc, char** argv) {
    using namespace ksid;
    std::signal(SIGPIPE, SIG_IGN); // a client that goes away must not kill the daemon
    std::signal(SIGHUP, SIG_IGN);  // until the daemon's handler takes over: a reload, never the end
    // systemd's variables, before anything else: children (claude, agents) inherit the environment and
    // must not notify or take sockets as if they were ksid.
    auto service = daemon::take_service_environment();
    // RELOAD_DAEMON's new daemon: the old one's sockets and channel. A start-up error is told to it.
    std::string upgrade_problem;
    const auto inherited = daemon::take_upgrade_environment(upgrade_problem);
    auto refuse = [&](const std::string& why) {
        if (inherited) daemon::report_upgrade_failure(*inherited, why);
    };
#ifdef __GLIBC__
    // What is held for one client (a large reply, a stream's backlog) is often megabytes, briefly. glibc
    // raises its mmap threshold after each large free and then keeps such memory in the heap; a fixed
    // threshold serves it from mmap, so it goes back to the system when the client is served or dropped.
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif

    // `ksid keys ...` and `ksid usage`: the usage database from the command line, not a daemon.
    if (const std::vector<std::string> args(argv + 1, argv + argc); app::is_admin_command(args)) {
        service = {};
        return app::run_admin_command(args);
    }
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

    bool bad_command_line = false;
    auto loaded = effective_config(opt, bad_command_line);
    if (!loaded) {
        std::cerr << "ksid: " << loaded.error() << "\n";
        refuse(loaded.error());
        return bad_command_line ? 2 : 1;
    }
    config::Config cfg = std::move(*loaded);
    if (opt.print_config) {
        std::cout << config::render_config_yaml(cfg);
        return 0;
    }
    if (opt.worker) {
        service = {};
        return app::run_worker(cfg);
    }
    std::vector<std::string> api_keys;
    if (cfg.facade.enabled) {
        // The usage database's keys count too: checked again once it is open (the facade's extension).
        if (auto err = facade::resolve_api_keys(cfg, api_keys, cfg.usage.enabled ? 1 : 0)) {
            std::cerr << "ksid: " << *err << "\n";
            refuse(*err);
            return 1;
        }
    }
    daemon::DaemonOptions options{
        std::move(cfg), opt.hot_reload_from.has_value(), {}, {}, std::move(service), {}, {}};
    options.argv.assign(argv, argv + argc);
    options.inherited = inherited;
    options.upgrade_problem = upgrade_problem;
    {
        char path[4096];
        const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
        if (n > 0) options.executable.assign(path, static_cast<std::size_t>(n));
    }
    options.reload_config = [opt]() -> boost::system::result<config::Config, std::string> {
        bool ignored = false;
        return effective_config(opt, ignored);
    };
    if (options.config.facade.enabled) {
        // The HTTP facade, on the daemon's event loop, stopped with it.
        options.extensions.push_back([keys = std::move(api_keys)](
                                         daemon::DaemonServices& s) -> std::optional<std::string> {
            s.usage->configure(keys, s.config.facade.admin_keys);
            if (!facade::is_loopback_host(s.config.facade.host) && !s.usage->has_keys())
                return "HTTP facade: refusing to serve " + s.config.facade.host +
                       " without API keys: add one with `ksid keys add NAME`, set facade.api_keys, "
                       "facade.api_keys_file or KSID_API_KEYS, or listen on 127.0.0.1";
            auto server = std::make_shared<facade::HttpServer>(
                s.executor,
                facade::FacadeDeps{s.config, s.turns, s.log, s.upstream, s.pool, s.usage, s.daemon_state}, keys);
            if (auto err = server->listen(s.facade_fd)) return "HTTP facade: " + *err;
            server->start();
            s.serving.push_back("http://" + server->endpoint());
            s.log->info("HTTP facade listening on http://{} ({})", server->endpoint(),
                        keys.empty() ? "no API keys: loopback only"
                                     : std::to_string(keys.size()) + " API key(s)");
            // SIGHUP: the keys again (the key file is read anew); the facade's other settings are read
            // for each new connection and request.
            s.on_reload([server, log = s.log, usage = s.usage](const config::Config& next)
                            -> boost::system::result<daemon::ReloadCommit, std::string> {
                std::vector<std::string> keys;
                if (auto err = facade::resolve_api_keys(next, keys, usage->stored_keys().size()))
                    return "HTTP facade: " + *err;
                return daemon::ReloadCommit(
                    [server, log, usage, keys = std::move(keys), admin = next.facade.admin_keys]() mutable {
                        log->info("HTTP facade: {} API key(s)", keys.size());
                        usage->configure(keys, admin);
                        server->set_api_keys(std::move(keys));
                    });
            });
            s.on_upgrade([server] { return server->listener_fd(); }, [server] { server->stop(); });
            s.lifecycle.on_shutdown([server](daemon::ShutdownBudget budget) -> boost::asio::awaitable<void> {
                server->stop();
                co_await server->wait_idle(budget.http_deadline());
            });
            return std::nullopt;
        });
    }
    return daemon::run_daemon(std::move(options));
}
