#include "daemon/services/agent_supervisor.hpp"

#include "daemon/core/ids.hpp"
#include "daemon/core/lifecycle.hpp"
#include "protocol/timestamp.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <sstream>

namespace ksid::daemon {
namespace json = boost::json;

AgentSupervisor::AgentSupervisor(asio::any_io_executor executor, const config::Config& config,
                                 EventSink& events, std::shared_ptr<spdlog::logger> log)
    : executor_(executor), config_(config), events_(events), log_(std::move(log)),
      all_exited_(std::make_unique<AsyncSignal>(executor)) {}

std::optional<std::string> AgentSupervisor::start(const std::string& agent_id, const std::string& profile) {
    if (stopping_ || full()) return std::nullopt;
    ChildSpec spec;
    std::istringstream words(config_.daemon.agent_command);
    for (std::string w; words >> w;)
        spec.argv.push_back(w);
    if (spec.argv.empty() || find_executable(spec.argv[0]).empty()) {
        log_->error("SPAWN_AGENT: cannot run '{}': {} not found", config_.daemon.agent_command,
                    spec.argv.empty() ? std::string("(empty)") : spec.argv[0]);
        return std::nullopt;
    }
    spec.argv.push_back("--id");
    spec.argv.push_back(agent_id);
    spec.argv.push_back("--profile");
    spec.argv.push_back(profile);
    spec.argv.push_back("--socket");
    spec.argv.push_back(config_.daemon.socket_path);
    spec.time_limit = std::chrono::hours(24 * 365 * 10); // agents live until they exit or ksid stops
    spec.kill_grace = std::chrono::duration_cast<std::chrono::milliseconds>(config_.daemon.shutdown_grace);
    spec.max_output_bytes = 1u << 20; // keep the first MiB of output for the exit log; drain the rest
    spec.kill_on_output_limit = false;

    std::string process_id;
    do
        process_id = short_process_id();
    while (agents_.contains(process_id));
    auto control = std::make_shared<CancellationToken>();
    std::string command_line;
    for (const auto& word : spec.argv)
        command_line += (command_line.empty() ? "" : " ") + word;
    log_->info("Spawning agent process with command: {}", command_line);
    log_->info("Started agent process {} for agent {}", process_id, agent_id);
    agents_[process_id] = Agent{agent_id, profile, protocol::legacy_timestamp_now(), control};
    asio::co_spawn(executor_, watch(process_id, std::move(spec), control), asio::detached);
    return process_id;
}

asio::awaitable<void> AgentSupervisor::watch(std::string process_id, ChildSpec spec,
                                             std::shared_ptr<CancellationToken> control) {
    ChildOutcome out = co_await run_child(std::move(spec), control);
    const std::string agent_id = agents_.count(process_id) ? agents_[process_id].agent_id : std::string();
    agents_.erase(process_id);
    if (agents_.empty()) all_exited_->notify();
    if (out.status == ChildOutcome::Status::spawn_failed) {
        log_->error("Agent {} ({}) could not be started: errno {}", agent_id, process_id, out.spawn_errno);
    } else {
        log_->info("Agent {} (process {}) completed with code {}{}{}", agent_id, process_id, out.returncode(),
                   out.stderr_data.empty() ? "" : "; stderr: ", out.stderr_data.substr(0, 2000));
    }
    if (stopping_) co_return; // AGENT_TERMINATED is for exits while the daemon runs
    events_.publish_event("AGENT_TERMINATED", "daemon",
                          {{"process_id", process_id},
                           {"agent_id", agent_id},
                           {"returncode", out.returncode()},
                           {"terminated_at", protocol::legacy_timestamp_now()}});
}

void AgentSupervisor::add_process_entries(json::object& table) const {
    for (const auto& [id, a] : agents_)
        table[id] =
            json::object{{"agent_id", a.agent_id}, {"model", nullptr},        {"started_at", a.started_at},
                         {"session_id", nullptr},  {"type", "agent_process"}, {"profile", a.profile},
                         {"status", "running"}};
}

asio::awaitable<void> AgentSupervisor::shutdown(std::chrono::milliseconds grace,
                                                std::chrono::steady_clock::time_point deadline) {
    stopping_ = true;
    for (auto& [id, a] : agents_)
        a.control->cancel(errc::shutting_down, grace);
    while (!agents_.empty() && std::chrono::steady_clock::now() < deadline)
        co_await all_exited_->wait_until(deadline);
}

} // namespace ksid::daemon
