#pragma once
// `ksid --worker`: a worker daemon of the Redis broker (daemon/redis/redis_worker). It serves no socket and
// no HTTP: it runs the turns fronts queue in Redis, with this machine's backend (cold claude, the warm pool,
// or the API shim's upstream), until SIGTERM or SIGINT.
#include "config/config.hpp"
#include "daemon/redis/redis_job_queue.hpp"

namespace ksid::app {

// The broker's settings from the configuration (queue.broker must be a valid redis:// URL).
daemon::BrokerSettings broker_settings(const config::Config& cfg);

// The process exit status: 0 after a clean shutdown, 1 when the worker cannot start.
int run_worker(const config::Config& cfg);

} // namespace ksid::app
