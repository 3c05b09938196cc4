#include "app/daemon_app.hpp"

#include "app/config_reload.hpp"
#include "app/daemon_upgrade.hpp"
#include "app/fd_limits.hpp"
#include "app/instance_guard.hpp"
#include "app/socket_activation.hpp"
#include "app/worker_app.hpp"
#include "daemon/backends/cli_backend.hpp"
#include "daemon/backends/upstream/upstream_backend.hpp"
#include "daemon/backends/warm/warm_pool.hpp"
#include "daemon/core/filesystem.hpp"
#include "daemon/core/lifecycle.hpp"
#include "daemon/core/logging.hpp"
#include "daemon/legacy/agent_commands.hpp"
#include "daemon/legacy/bus_commands.hpp"
#include "daemon/legacy/cleanup_command.hpp"
#include "daemon/legacy/command_router.hpp"
#include "daemon/legacy/composition_commands.hpp"
#include "daemon/legacy/identity_commands.hpp"
#include "daemon/legacy/process_commands.hpp"
#include "daemon/legacy/socket_server.hpp"
#include "daemon/legacy/state_commands.hpp"
#include "daemon/legacy/system_commands.hpp"
#include "daemon/process/orphan_reaper.hpp"
#include "daemon/services/agent_supervisor.hpp"
#include "daemon/services/message_bus.hpp"
#include "daemon/services/module_host.hpp"
#include "daemon/services/session_log.hpp"
#include "daemon/services/turn_service.hpp"
#include "daemon/redis/redis_job_queue.hpp"
#include "daemon/turns/in_process_job_queue.hpp"
#include "protocol/json_parse.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <iostream>
#include <map>
#include <unistd.h>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

std::string parent_directory(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Everything that lives as long as the event loop.
struct Daemon {
    Daemon(const DaemonOptions& options, std::shared_ptr<spdlog::logger> logger)
        : cfg(options.config), reload_config(options.reload_config), log(std::move(logger)),
          lifecycle(io.get_executor()), router(log), shared_state("shared_state", log),
          identities(io.get_executor(), file_worker), modules(io.get_executor(), cfg, log),
          system_commands(lifecycle, modules, log), state_commands(shared_state, sessions, agents, log),
          identity_commands(identities, log), cleanup_command(sessions, cfg.daemon.socket_path, log),
          bus("claude_logs/message_bus.jsonl",
              BusLimits{.offline_bytes_per_agent = cfg.daemon.max_offline_bytes,
                        .offline_total_bytes = cfg.daemon.max_offline_total_bytes},
              log),
          backend(cli_settings()),
          upstream(cfg.api_shim.enabled && cfg.queue.broker.empty() // with a broker the workers call it
                       ? std::make_unique<UpstreamBackend>(io.get_executor(), cfg.api_shim,
                                                           cfg.queue.max_output_bytes, &backend, log)
                       : nullptr),
          pool(!cfg.api_shim.enabled && cfg.pool.enabled && cfg.queue.broker.empty()
                   ? std::make_unique<WarmPool>(io.get_executor(), cfg, backend, log)
                   : nullptr),
          queue(io.get_executor(), turn_backend(), cfg.queue.max_concurrent, cfg.queue.max_pending, log),
          broker_queue(cfg.queue.broker.empty()
                           ? nullptr
                           : std::make_unique<RedisJobQueue>(io.get_executor(), app::broker_settings(cfg), log)),
          usage(io.get_executor(), cfg, file_worker, log),
          turns(cfg, broker_queue ? static_cast<JobQueue&>(*broker_queue) : queue, session_log, sessions, agents, log), supervisor(io.get_executor(), cfg, bus, log),
          process_commands(io.get_executor(), turns, supervisor, bus, cfg, log, pool.get(), &modules),
          composition_commands(compositions), bus_commands(bus, log),
          agent_commands(agents, compositions, supervisor, log),
          server(io.get_executor(), connection_settings(), cfg.daemon.max_connections,
                 config::to_ms(cfg.daemon.first_line_timeout), router, lifecycle, log),
          guard(cfg.daemon.socket_path, cfg.daemon.pid_file), notifier(options.service) {
        turns.set_governor(&usage);
        system_commands.register_with(router);
        state_commands.register_with(router);
        identity_commands.register_with(router);
        cleanup_command.register_with(router);
        process_commands.register_with(router);
        composition_commands.register_with(router);
        bus_commands.register_with(router);
        agent_commands.register_with(router);
        server.on_connection_closed([this](Connection& c) {
            if (c.handed_over()) { // RELOAD_DAEMON: it lives on in the new daemon, nobody disconnected
                bus.endpoint_closed(&c, true);
                return;
            }
            if (c.bus_agent_id().empty()) return;
            // The legacy daemon's three lines for the end of an agent's connection (KSI users grep them).
            log->info("Closed persistent connection for agent {}", c.bus_agent_id());
            bus.endpoint_closed(&c);
            log->info("Disconnected agent {}", c.bus_agent_id());
        });
        lifecycle.on_shutdown([this](ShutdownBudget budget) -> asio::awaitable<void> {
            using namespace asio::experimental::awaitable_operators;
            const auto grace = budget.child_grace(config::to_ms(cfg.daemon.shutdown_grace));
            co_await (turns.shutdown(grace, budget.work_deadline()) &&
                      supervisor.shutdown(grace, budget.work_deadline()) &&
                      modules.shutdown(grace, budget.work_deadline()));
            if (pool) co_await pool->shutdown(grace, budget.work_deadline());
            if (upstream) upstream->close_idle();
        });
    }

    // Where turns run: the API shim's upstream, warm processes, or a cold claude each.
    TurnBackend& turn_backend() {
        if (upstream) return *upstream;
        if (pool) return *pool;
        return backend;
    }

    CliBackendSettings cli_settings() const {
        return {cfg.daemon.claude_command, "", cfg.queue.max_output_bytes,
                config::to_ms(cfg.queue.kill_grace)};
    }
    ConnectionSettings connection_settings() const {
        return {cfg.daemon.max_line_bytes, cfg.daemon.max_outbox_bytes,
                config::to_ms(cfg.daemon.write_timeout)};
    }

    // SIGHUP: read the configuration again and take on what can change while running. Either everything
    // applies or, when the file or a component refuses the new values, nothing does.
    void reload() {
        if (!reload_config) return;
        notifier.reloading("reloading the configuration"); // Type=notify-reload: RELOADING=1 ... READY=1
        apply_reload();
        notifier.ready(serving);
    }

    void apply_reload() {
        auto loaded = reload_config();
        if (!loaded) {
            log->error("SIGHUP: configuration not reloaded, nothing changed: {}", loaded.error());
            return;
        }
        ReloadPlan plan = plan_reload(cfg, *loaded);
        if (fd_soft_limit > 0) // the connection caps stay within the descriptors, as at start-up
            if (auto lowered = fit_connections_to_fds(plan.next, fd_soft_limit, fds_at_start))
                log->warn("SIGHUP: {}", *lowered);
        std::vector<ReloadCommit> commits;
        for (const auto& hook : reload_hooks) {
            auto commit = hook(plan.next);
            if (!commit) {
                log->error("SIGHUP: configuration not reloaded, nothing changed: {}", commit.error());
                return;
            }
            commits.push_back(std::move(*commit));
        }
        // Components read cfg when they act; those that keep copies get the new values.
        cfg = std::move(plan.next);
        log->set_level(log_level_of(cfg.daemon.log_level));
        backend.set_settings(cli_settings());
        bus.set_offline_bytes(cfg.daemon.max_offline_bytes, cfg.daemon.max_offline_total_bytes);
        if (upstream) upstream->set_max_output_bytes(cfg.queue.max_output_bytes);
        queue.set_limits(cfg.queue.max_concurrent, cfg.queue.max_pending);
        if (broker_queue) broker_queue->set_max_pending(cfg.queue.max_pending);
        server.set_limits(connection_settings(), cfg.daemon.max_connections,
                          config::to_ms(cfg.daemon.first_line_timeout));
        for (const auto& commit : commits)
            commit();
        auto joined = [](const std::vector<std::string>& v) {
            std::string out;
            for (const auto& s : v)
                out += (out.empty() ? "" : ", ") + s;
            return out.empty() ? std::string("none") : out;
        };
        log->info("SIGHUP: configuration reloaded from {}; applied: {}", cfg.source, joined(plan.applied));
        if (!plan.need_restart.empty())
            log->warn("SIGHUP: changed but kept until a restart: {}", joined(plan.need_restart));
    }

    asio::awaitable<void> watch_reload() {
        asio::signal_set hup(io, SIGHUP);
        for (;;) {
            auto [ec, signo] = co_await hup.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec || lifecycle.stopping()) co_return;
            reload();
        }
    }

    // SIGUSR2: the same upgrade in place as RELOAD_DAEMON (ksid-control reload sends it).
    asio::awaitable<void> watch_upgrade_signal() {
        asio::signal_set usr2(io, SIGUSR2);
        for (;;) {
            auto [ec, signo] = co_await usr2.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            // Handled for the daemon's whole life: with no handler left, a second SIGUSR2 (postinst sends
            // one) would end a daemon still draining.
            if (!upgrade || lifecycle.stopping() || upgrade->handed_over()) continue;
            const std::string trigger = "SIGUSR2";
            auto upgrading = upgrade->run(trigger); // built before the co_await (GCC 12)
            (void)co_await std::move(upgrading);    // a rollback was logged with its reason
        }
    }

    asio::awaitable<void> watch_signals() {
        asio::signal_set signals(io, SIGTERM, SIGINT);
        auto [ec, signo] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        log->info("Received signal {}, initiating shutdown...", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        lifecycle.request_shutdown(signo == SIGTERM ? "SIGTERM" : "SIGINT");
    }

    asio::awaitable<void> shutdown_sequence() {
        co_await lifecycle.wait_for_shutdown_request();
        log->info("Shutting down ({})", lifecycle.reason());
        notifier.stopping("stopping (" + lifecycle.reason() + ")");
        const ShutdownBudget budget; // every deadline below derives from it
        server.stop_accepting();
        if (upgrade) upgrade->abort(); // a new daemon still starting must not take over a removed socket
        guard.release_socket();
        // Services stop their work (cancel jobs, SIGTERM → grace → SIGKILL children) and the facade closes,
        // concurrently; waiting clients get their error replies through the normal reply path.
        co_await lifecycle.run_hooks(
            budget, [this](const std::string& what) { log->error("Shutdown step failed: {}", what); });
        // Every child is gone: what escaped their process groups goes too.
        const auto reap_deadline =
            std::min(ShutdownBudget::Clock::now() + std::chrono::milliseconds(500), budget.deadline());
        co_await reaper.shutdown(reap_deadline);
        server.close_idle_connections();
        co_await server.wait_until_no_connections(budget.deadline());
        if (server.connection_count() > 0) {
            log->warn("Closing {} connection(s) still busy at the shutdown deadline",
                      server.connection_count());
            server.close_all_connections();
        }
        log->info("Graceful shutdown complete");
        if (guard.release_pid_file())
            log->info("PID file cleaned up"); // not after RELOAD_DAEMON: the new one's
        log->info("Daemon stopped");
        io.stop();
    }

    asio::io_context io{1};
    config::Config cfg; // what the daemon runs with; SIGHUP replaces what may change
    std::function<boost::system::result<config::Config, std::string>()> reload_config;
    std::vector<ReloadHook> reload_hooks;
    std::shared_ptr<spdlog::logger> log;
    Lifecycle lifecycle;
    CommandRouter router;
    SharedStateStore shared_state;
    BlockingWorker file_worker; // identities.json is written off the loop
    IdentityStore identities;
    SessionRegistry sessions;
    AgentRegistry agents;
    ModuleHost modules; // RELOAD's Python module, in a host process
    SystemCommands system_commands;
    StateCommands state_commands;
    IdentityCommands identity_commands;
    CleanupCommand cleanup_command;
    MessageBus bus;
    SessionLog session_log;
    CliBackend backend;
    std::unique_ptr<UpstreamBackend> upstream; // api_shim.enabled: turns go to the upstream API
    std::unique_ptr<WarmPool> pool;            // pool.enabled: turns go to warm claude processes
    InProcessJobQueue queue;
    std::unique_ptr<RedisJobQueue> broker_queue; // queue.broker: turns go to Redis, workers run them
    UsageGovernor usage; // tenants and their limits; the ledger is written on file_worker
    TurnService turns;
    AgentSupervisor supervisor;
    ProcessCommands process_commands;
    CompositionLibrary compositions;
    CompositionCommands composition_commands;
    BusCommands bus_commands;
    AgentCommands agent_commands;
    SocketServer server;
    InstanceGuard guard;
    std::unique_ptr<DaemonUpgrade> upgrade; // RELOAD_DAEMON / SIGUSR2
    // systemd's notify socket: READY, STOPPING, STATUS, the watchdog; SIGHUP's reload sends RELOADING=1
    // when it starts and READY=1 when it has ended, applied or not (Type=notify-reload).
    ServiceNotifier notifier;
    std::string serving; // the status line: "serving sockets/claude_daemon.sock and http://127.0.0.1:8000"
    OrphanReaper reaper{io.get_executor(), log}; // processes that escaped a run's process group
    std::size_t fd_soft_limit = 0;               // RLIMIT_NOFILE after start-up raised it (0: unknown)
    std::size_t fds_at_start = 0;                // descriptors open before the daemon served anything
};

// The dashboard's view of the agents and the bus: who is registered or connected, what each subscribed
// to, and the last messages (from the bus's in-memory history).
json::object dashboard_daemon_state(Daemon& d) {
    const auto stats = d.bus.stats();
    std::map<std::string, json::object> agents;
    auto agent = [&](const std::string& id) -> json::object& {
        auto& a = agents[id];
        if (a.empty()) a = json::object{{"id", id}, {"connected", false}, {"subscriptions", json::array{}}};
        return a;
    };
    for (const auto& [id, record] : d.agents.agents)
        agent(std::string(id))["registered"] = true;
    if (const auto* c = stats.if_contains("connected_agents"); c && c->is_array())
        for (const auto& id : c->get_array())
            if (id.is_string()) agent(std::string(id.get_string()))["connected"] = true;
    if (const auto* subs = stats.if_contains("subscriptions"); subs && subs->is_object())
        for (const auto& [type, ids] : subs->get_object())
            if (ids.is_array())
                for (const auto& id : ids.get_array())
                    if (id.is_string())
                        agent(std::string(id.get_string()))["subscriptions"].as_array().emplace_back(type);
    json::array list;
    for (auto& [id, a] : agents)
        list.push_back(std::move(a));
    json::array recent;
    const auto history = d.bus.export_history();
    for (std::size_t i = history.size() > 8 ? history.size() - 8 : 0; i < history.size(); ++i) {
        if (!history[i].is_string()) continue;
        auto m = protocol::parse_json_text(history[i].get_string(), 32);
        if (!m || !m->is_object()) continue;
        const auto& o = m->get_object();
        auto text = [&](std::string_view k) {
            const auto* v = o.if_contains(k);
            return v && v->is_string() ? json::value(v->get_string()) : json::value(nullptr);
        };
        const auto* ts = o.if_contains("timestamp");
        recent.push_back(json::object{{"time", ts ? *ts : json::value(nullptr)},
                                      {"event", text("type")},
                                      {"from", text("from")},
                                      {"to", text("to")}});
    }
    return json::object{{"agents", std::move(list)},
                        {"bus",
                         json::object{{"connections", d.server.connection_count()},
                                      {"history", stats.contains("history_size") ? stats.at("history_size") : 0},
                                      {"offline_queues", stats.contains("offline_queues") ? stats.at("offline_queues") : json::object{}},
                                      {"recent", std::move(recent)}}}};
}

} // namespace

int run_daemon(DaemonOptions options) {
    const auto& cfg = options.config;
    // RELOAD_DAEMON: started by the daemon this one replaces, with its sockets, lock and a channel; what
    // stops the start is told to it (it answers the reason in its rollback reply).
    const auto& inherited = options.inherited;
    const std::string& upgrade_problem = options.upgrade_problem;
    auto refuse_upgrade = [&](const std::string& why) {
        if (inherited) report_upgrade_failure(*inherited, why);
    };
    const FdLimit fds = raise_fd_limit();

    // 1. Logging first, so that every later step can report.
    const auto log_dir = parent_directory(cfg.daemon.log_file);
    if (!log_dir.empty()) {
        if (auto ec = ensure_directory(log_dir)) {
            std::cerr << "ksid: cannot create " << log_dir << ": " << ec.message() << "\n";
            return 1;
        }
    }
    std::shared_ptr<spdlog::logger> log;
    try {
        log = make_daemon_logger(cfg.daemon.log_file, cfg.daemon.log_level);
    } catch (const std::exception& e) {
        std::cerr << "ksid: " << e.what() << "\n";
        return 1;
    }

    // 2. The directories the legacy daemon creates, plus the socket's and PID file's own.
    for (const std::string dir : {"shared_state", "agent_profiles", "claude_logs", "sockets"}) {
        if (auto ec = ensure_directory(dir)) {
            log->critical("Cannot create {}: {}", dir, ec.message());
            return 1;
        }
    }
    for (const auto& path : {cfg.daemon.socket_path, cfg.daemon.pid_file}) {
        const auto dir = parent_directory(path);
        if (!dir.empty()) {
            if (auto ec = ensure_directory(dir)) {
                log->critical("Cannot create {}: {}", dir, ec.message());
                return 1;
            }
        }
    }
    if (cfg.dramatiq.configured && cfg.queue.broker.empty())
        log->info("dramatiq settings are accepted; the job queue stays in-process (queue.broker: dramatiq, or "
                  "DRAMATIQ_BROKER, puts it on dramatiq.broker)");
    log->info("ksid {} starting (configuration: {}; backend: {})", KSID_VERSION, cfg.source,
              cfg.api_shim.enabled
                  ? "api shim (" + std::string(protocol::provider_name(cfg.api_shim.provider)) + ") → " +
                        cfg.api_shim.base_url
                  : std::string("claude cli"));
    if (cfg.api_shim.enabled && cfg.api_shim.timeout < cfg.queue.run_time_limit)
        log->warn(
            "api_shim.timeout ({} s) is below queue.run_time_limit ({} s): an upstream turn that runs to the "
            "limit is cut off before its answer arrives",
            cfg.api_shim.timeout.count(), cfg.queue.run_time_limit.count());

    for (const auto& problem : options.service.problems)
        log->warn("Service manager environment: {}", problem);
    if (!upgrade_problem.empty()) {
        log->critical("RELOAD_DAEMON: {}", upgrade_problem);
        return 1;
    }

    // Socket activation: listening sockets the service manager passed (ksid.socket) replace binding; one
    // that matches nothing ksid serves stops the start, so that the unit does not promise it in vain.
    ActivationPlan activation;
    if (inherited) {
        // The old daemon's sockets, checked like passed ones: the configuration may have changed.
        auto passed = inspect_passed_sockets(inherited->legacy_fd, 1, {});
        if (inherited->facade_fd >= 0) {
            if (cfg.facade.enabled) {
                auto facade = inspect_passed_sockets(inherited->facade_fd, 1, {});
                passed.insert(passed.end(), facade.begin(), facade.end());
            } else {
                ::close(inherited->facade_fd); // the facade is off now
            }
        }
        activation = match_passed_sockets(passed, listen_targets(cfg));
        if (activation.error) {
            const std::string why =
                *activation.error + " (the socket path and the facade's address need a restart)";
            log->critical("RELOAD_DAEMON: {}", why);
            refuse_upgrade(why);
            return 1;
        }
        log->info("RELOAD_DAEMON: taking over from the running daemon");
    } else if (options.service.listen_fds > 0) {
        activation = match_passed_sockets(inspect_passed_sockets(first_passed_fd, options.service.listen_fds,
                                                                 options.service.listen_fd_names),
                                          listen_targets(cfg));
        if (activation.error) {
            log->critical("{}", *activation.error);
            return 1;
        }
        for (const auto& note : activation.notes)
            log->info("{}", note);
    }
    const bool socket_passed = activation.legacy_fd >= 0;

    // 3. One daemon per working directory; the lock is held until run_daemon returns.
    DirectoryLock directory_lock;
    if (inherited && inherited->lock_fd >= 0) directory_lock.adopt(inherited->lock_fd); // the old one's lock
    const auto claim =
        inherited ? GuardDecision{GuardDecision::Kind::proceed, {}}
                  : claim_directory(directory_lock, "shared_state", cfg.daemon.socket_path,
                                    options.skip_collision_detection, std::chrono::seconds(3), socket_passed);
    if (claim.kind == GuardDecision::Kind::already_running) {
        log->info("{}; exiting", claim.message);
        return 0;
    }
    if (claim.kind == GuardDecision::Kind::refuse) {
        log->critical("{}", claim.message);
        return 1;
    }
    if (!claim.message.empty()) log->warn("{}", claim.message);

    // File descriptors: the soft limit raised to the hard one, and the connection caps kept below it.
    if (fds.error != 0)
        log->warn("Cannot raise the file descriptor limit: {}", std::generic_category().message(fds.error));
    else if (fds.soft != fds.before)
        log->info("File descriptor limit raised from {} to {}", fds.before, fds.soft);
    const std::size_t fds_in_use = open_fd_count();
    if (fds.soft > 0)
        if (auto lowered = fit_connections_to_fds(options.config, fds.soft, fds_in_use))
            log->warn("{}", *lowered);

    Daemon d(options, log);
    d.fd_soft_limit = fds.soft;
    d.fds_at_start = fds_in_use;
    if (socket_passed && (!inherited || inherited->unit_socket)) d.guard.use_passed_socket();
    if (auto err = d.reaper.start())
        log->warn("{}; processes that leave their run's process group may outlive it", *err);
    if (d.broker_queue) {
        log->info("Job queue: Redis {} (prefix {}); turns run on `ksid --worker` daemons",
                  app::broker_settings(cfg).address.text(), cfg.queue.broker_prefix);
        d.broker_queue->start();
    }
    if (d.upstream) {
        if (auto err = d.upstream->init()) {
            log->critical("API shim: {}", *err);
            return 1;
        }
    }
    // 4. Collision detection (spec §2.3, Recommended).
    std::string notes;
    // An upgrade's new daemon is the one the old daemon started: no collision to detect.
    const auto decision = inherited ? GuardDecision{GuardDecision::Kind::proceed, {}}
                                    : d.guard.check(options.skip_collision_detection, notes);
    if (!notes.empty()) log->info("Start-up checks: {}", notes.substr(0, notes.size() - 2));
    if (decision.kind == GuardDecision::Kind::already_running) {
        log->info("{}; exiting", decision.message);
        return 0;
    }
    if (decision.kind == GuardDecision::Kind::refuse) {
        log->critical("{}", decision.message);
        return 1;
    }

    // An identities file ksid cannot use is kept aside, never overwritten by the next identity change.
    const auto identities = d.identities.load();
    if (identities.kind == StateFileLoad::Kind::kept_aside)
        log->warn("shared_state/identities.json: {}; starting with no identities", identities.detail);
    if (identities.kind == StateFileLoad::Kind::failed) {
        log->critical("shared_state/identities.json: {}; not starting, so that the file is not overwritten",
                      identities.detail);
        return 1;
    }
    if (identities.kind == StateFileLoad::Kind::loaded)
        log->info("Loaded {} existing identities", d.identities.all().size());
    if (auto err = d.usage.start()) {
        log->critical("{}", *err);
        refuse_upgrade(*err);
        return 1;
    }
    if (cfg.usage.enabled)
        log->info("Usage ledger and API keys: {} ({} key(s) in it)", cfg.usage.database, d.usage.stored_keys().size());

    // Without the lock (hot reload) the temp files may be the other daemon's writes in progress.
    if (directory_lock.held() && !inherited) // an upgrade's old daemon may be writing right now
        if (auto n = remove_stale_temp_files("shared_state"))
            log->info("Removed {} temporary file(s) an interrupted write left in shared_state/", n);

    // 5. Listen, then write the PID file.
    if (auto err = socket_passed ? d.server.adopt(activation.legacy_fd)
                                 : d.server.listen(cfg.daemon.socket_path, cfg.daemon.socket_mode)) {
        log->critical("{}", *err);
        return 1;
    }
    // An upgrade's new daemon claims the socket and the PID file only once it has the old one's state:
    // until then a failure must leave both to the old daemon, which goes on serving.
    auto claim_socket_and_pid_file = [&]() -> bool {
        if (inherited) { // the socket is the old daemon's until this one is ready: never removed before
            if (auto err = d.guard.write_pid_file()) {
                log->critical("{}", *err);
                return false;
            }
            d.guard.claim_socket();
            log->info("PID file written: {} (PID {})", cfg.daemon.pid_file, ::getpid());
            return true;
        }
        d.guard.claim_socket();
        if (auto err = d.guard.write_pid_file()) {
            log->critical("{}", *err);
            d.guard.release_socket();
            return false;
        }
        log->info("PID file written: {} (PID {})", cfg.daemon.pid_file, ::getpid());
        return true;
    };
    if (!inherited && !claim_socket_and_pid_file()) return 1;
    log->info("Modular daemon listening on {}{}", cfg.daemon.socket_path,
              inherited       ? " (taken over from the daemon it replaces)"
              : socket_passed ? " (the socket the service manager passed)"
                              : "");

    DaemonServices services{d.io.get_executor(),
                            d.cfg,
                            d.turns,
                            d.lifecycle,
                            log,
                            d.upstream ? &d.upstream->stats() : nullptr,
                            d.pool.get(),
                            [&d](ReloadHook hook) { d.reload_hooks.push_back(std::move(hook)); },
                            activation.facade_fd,
                            {},
                            {}};
    services.usage = &d.usage;
    services.daemon_state = [&d] { return dashboard_daemon_state(d); };
    std::function<int()> facade_listener_fd;
    std::function<void()> facade_hand_over;
    services.on_upgrade = [&](std::function<int()> fd, std::function<void()> hand_over) {
        facade_listener_fd = std::move(fd);
        facade_hand_over = std::move(hand_over);
    };
    if (d.pool)
        d.pool->start(
            WarmKey{cfg.models.default_model, true, false, "", "", nullptr, ""}); // SPAWN's default turn
    for (const auto& extension : options.extensions) {
        if (auto err = extension(services)) {
            log->critical("{}", *err);
            refuse_upgrade(*err);
            d.guard.release_socket();
            d.guard.release_pid_file();
            return 1;
        }
    }

    auto report = [log](const char* what) {
        return [log, what](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log->critical("{} failed: {}", what, ex.what());
            }
        };
    };
    // An upgrade's new daemon: the old one's state, then the socket and PID file are ours.
    std::shared_ptr<UpgradeChannel> from_old;
    if (inherited) {
        std::string why;
        auto state =
            receive_inherited_state(inherited->channel_fd, config::to_ms(cfg.daemon.upgrade_timeout), why);
        if (!state) {
            log->critical("RELOAD_DAEMON: {}; the running daemon goes on", why);
            return 1;
        }
        restore_inherited_state(state->state, d.sessions, d.agents, d.bus);
        // Read again: the old daemon may have changed identities until it stopped accepting.
        if (d.identities.load().kind == StateFileLoad::Kind::failed) {
            log->critical("RELOAD_DAEMON: shared_state/identities.json cannot be read");
            refuse_upgrade("shared_state/identities.json cannot be read");
            return 1;
        }
        if (!claim_socket_and_pid_file()) {
            refuse_upgrade("cannot write the PID file");
            return 1;
        }
        from_old = std::make_shared<UpgradeChannel>(d.io.get_executor(), inherited->channel_fd);
        log->info("RELOAD_DAEMON: state received ({} sessions, {} agents); serving", d.sessions.size(),
                  d.agents.agents.size());
    }

    // This daemon can be replaced in turn.
    d.upgrade = std::make_unique<DaemonUpgrade>(UpgradeParts{
        d.io.get_executor(),
        log,
        options.executable,
        options.argv,
        config::to_ms(cfg.daemon.upgrade_timeout),
        config::to_ms(cfg.daemon.upgrade_drain_timeout),
        directory_lock.native(),
        socket_passed && (!inherited || inherited->unit_socket),
        d.server,
        d.bus,
        d.sessions,
        d.agents,
        d.guard,
        facade_listener_fd,
        facade_hand_over,
        [&d] {
            const auto q = d.turns.queue_stats();
            // SPAWN_AGENT's processes are this daemon's children (their connections already moved):
            // they keep running here until they exit or the drain deadline.
            return q.running == 0 && q.pending == 0 && d.supervisor.running() == 0 &&
                   d.server.connection_count() == d.server.persistent_connections().size();
        },
        [&d](std::string reason) { d.lifecycle.request_shutdown(std::move(reason)); },
        d.notifier.socket_name(),
        d.notifier.watchdog_interval(),
        [&d](long pid) { d.notifier.hand_over_to(pid, "handed over to PID " + std::to_string(pid)); },
        [&d] { return d.lifecycle.stopping(); },
        [from_old] { return from_old && from_old->is_open(); }});
    d.system_commands.set_upgrader([&d](std::string trigger) { return d.upgrade->run(std::move(trigger)); });

    asio::co_spawn(d.io, d.server.accept_loop(), report("accept loop"));
    asio::co_spawn(d.io, d.watch_upgrade_signal(), report("SIGUSR2 watcher"));
    if (from_old) {
        asio::co_spawn(d.io, serve_old_daemon(from_old, d.server, d.bus, log),
                       report("RELOAD_DAEMON channel"));
        asio::post(d.io, [from_old] {
            from_old->send(boost::json::object{{"type", "ready"}, {"pid", ::getpid()}});
        });
    }
    asio::co_spawn(d.io, d.server.first_line_sweeper(), report("first-line sweeper"));
    asio::co_spawn(d.io, d.watch_signals(), report("signal watcher"));
    asio::co_spawn(d.io, d.watch_reload(), report("SIGHUP watcher"));
    asio::co_spawn(d.io, d.shutdown_sequence(), report("shutdown"));

    // Ready once everything listens, sent from the running loop; the watchdog pings from it too, so a
    // loop that hangs stops pinging.
    d.serving = "serving " + cfg.daemon.socket_path;
    for (const auto& what : services.serving)
        d.serving += " and " + what;
    if (d.notifier.enabled() || d.notifier.watchdog_interval())
        log->info("Service manager: {}", d.notifier.describe());
    asio::post(d.io, [&d, &log] {
        if (!d.notifier.ready(d.serving) && d.notifier.enabled())
            log->warn("Cannot notify the service manager: {}", d.notifier.last_error());
    });
    asio::co_spawn(d.io, d.notifier.watchdog_loop(), report("watchdog"));

    try {
        d.io.run();
    } catch (const std::exception& e) {
        log->critical("Event loop stopped by an internal error: {}", e.what());
        d.guard.release_socket();
        d.guard.release_pid_file();
        return 1;
    }
    d.guard.release_socket();
    d.guard.release_pid_file();
    return 0;
}

} // namespace ksid::daemon
