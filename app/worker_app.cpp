#include "app/worker_app.hpp"

#include "daemon/backends/cli_backend.hpp"
#include "daemon/backends/upstream/upstream_backend.hpp"
#include "daemon/backends/warm/warm_pool.hpp"
#include "daemon/core/logging.hpp"
#include "daemon/process/orphan_reaper.hpp"
#include "daemon/redis/redis_worker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>
#include <iostream>
#include <unistd.h>

namespace ksid::app {

namespace asio = boost::asio;

daemon::BrokerSettings broker_settings(const config::Config& cfg) {
    daemon::BrokerSettings s;
    std::string why;
    if (auto address = protocol::parse_redis_url(cfg.queue.broker, why)) s.address = *address;
    s.prefix = cfg.queue.broker_prefix;
    s.visibility_timeout = config::to_ms(cfg.queue.visibility_timeout);
    s.max_pending = cfg.queue.max_pending;
    s.max_deliveries = cfg.queue.max_deliveries;
    s.max_concurrent = cfg.queue.max_concurrent;
    return s;
}

namespace {

std::string default_worker_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "worker");
    std::string name;
    for (const char* c = host; *c && name.size() < 48; ++c)
        name += std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '.' ? *c : '_';
    return name + "-" + std::to_string(::getpid());
}

} // namespace

int run_worker(const config::Config& cfg) {
    if (cfg.queue.broker.empty()) {
        std::cerr
            << "ksid: --worker needs a broker: set queue.broker (redis://host:port/db), KSID_QUEUE_BROKER "
               "or DRAMATIQ_BROKER\n";
        return 1;
    }
    auto log = daemon::make_stderr_logger();
    log->set_level(daemon::log_level_of(cfg.daemon.log_level));
    const std::string name = cfg.queue.worker_name.empty() ? default_worker_name() : cfg.queue.worker_name;

    asio::io_context io{1};
    daemon::CliBackend cold(
        {cfg.daemon.claude_command, "", cfg.queue.max_output_bytes, config::to_ms(cfg.queue.kill_grace)});
    std::unique_ptr<daemon::UpstreamBackend> upstream;
    std::unique_ptr<daemon::WarmPool> pool;
    daemon::TurnBackend* backend = &cold;
    if (cfg.api_shim.enabled) {
        upstream = std::make_unique<daemon::UpstreamBackend>(io.get_executor(), cfg.api_shim,
                                                             cfg.queue.max_output_bytes, &cold, log);
        if (auto err = upstream->init()) {
            log->critical("API shim: {}", *err);
            return 1;
        }
        backend = upstream.get();
    } else if (cfg.pool.enabled) {
        pool = std::make_unique<daemon::WarmPool>(io.get_executor(), cfg, cold, log);
        backend = pool.get();
    }
    daemon::OrphanReaper reaper(io.get_executor(), log);
    if (auto err = reaper.start())
        log->warn("{}; processes that leave their run's process group may outlive it", *err);
    daemon::RedisWorker worker(io.get_executor(), broker_settings(cfg), name, *backend, log);
    log->info("ksid {} worker {} starting: Redis {} (prefix {}), {} run(s) at once, backend {}", KSID_VERSION,
              name, broker_settings(cfg).address.text(), cfg.queue.broker_prefix, cfg.queue.max_concurrent,
              backend->name());
    if (pool) pool->start(daemon::WarmKey{cfg.models.default_model, true, false, "", "", nullptr, ""});
    worker.start();

    // SIGHUP would end the process by default: a worker takes its configuration at start only.
    asio::signal_set hangups(io, SIGHUP);
    std::function<void()> watch_hangups = [&] {
        hangups.async_wait([&](boost::system::error_code ec, int) {
            if (ec) return;
            log->warn("Worker {}: SIGHUP ignored (a worker reads its configuration at start; restart it)", name);
            watch_hangups();
        });
    };
    watch_hangups();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::signal_set signals(io, SIGTERM, SIGINT);
            const int signo = co_await signals.async_wait(asio::use_awaitable);
            log->info("Worker {}: received {}, stopping", name, signo == SIGTERM ? "SIGTERM" : "SIGINT");
            const auto grace = config::to_ms(cfg.daemon.shutdown_grace);
            const auto deadline = std::chrono::steady_clock::now() + grace + std::chrono::seconds(5);
            auto stopping = worker.shutdown(grace, deadline);
            co_await std::move(stopping);
            if (pool) {
                auto draining = pool->shutdown(grace, deadline);
                co_await std::move(draining);
            }
            if (upstream) upstream->close_idle();
            auto reaping = reaper.shutdown(std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
            co_await std::move(reaping);
            log->info("Worker {} stopped", name);
            hangups.cancel();
            io.stop();
        },
        [log](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log->critical("Worker shutdown failed: {}", ex.what());
            }
        });
    io.run();
    return 0;
}

} // namespace ksid::app
