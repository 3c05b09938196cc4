#include "daemon/services/module_host.hpp"

#include "protocol/claude_cli.hpp"

#include <boost/json/serialize.hpp>

#include <cstring>

#include <sys/stat.h>

namespace ksid::daemon {

namespace {

// What waits for a host that reads slower than turns finish; past it outputs are dropped.
constexpr std::size_t max_queued_bytes = 16u << 20;
// One line of the host's output in daemon.log at most.
constexpr std::size_t max_log_line = 2000;

bool is_regular_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

// The host: imports the module as the legacy daemon did (the project directory on sys.path, the module's
// own name), then calls handle_output(output, process_manager) for each JSON line on stdin. The module's
// prints and tracebacks go to stdout, which ksid logs. process_manager is a stand-in: ksid's processes do
// not live in this interpreter.
const char* ModuleHost::host_source() {
    return R"PY(
import importlib.util, json, os, sys, traceback
sys.stderr = sys.stdout
path = sys.argv[1]
name = os.path.splitext(os.path.basename(path))[0]
sys.path.insert(0, os.getcwd())
class ProcessManager:
    """Stand-in for the legacy daemon's process manager: ksid's runs are not in this process."""
    processes = {}
    def __getattr__(self, attribute):
        raise AttributeError("ksid's module host has no process manager attribute " + repr(attribute))
process_manager = ProcessManager()
try:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
except BaseException:
    print("cannot load " + path + ":", flush=True)
    traceback.print_exc()
    sys.stdout.flush()
    sys.exit(1)
handle = getattr(module, "handle_output", None)
print("loaded " + path + ("" if callable(handle) else " (it has no handle_output: outputs are ignored)"), flush=True)
for line in sys.stdin:
    try:
        output = json.loads(line)
    except ValueError:
        continue
    if callable(handle):
        try:
            handle(output, process_manager)
        except Exception:
            print("handle_output failed:", flush=True)
            traceback.print_exc()
    sys.stdout.flush()
)PY";
}

ModuleHost::ModuleHost(asio::any_io_executor executor, const config::Config& config,
                       std::shared_ptr<spdlog::logger> log)
    : executor_(executor), config_(config), log_(std::move(log)) {}

void ModuleHost::reload(const std::string& module_name) {
    if (stopping_) return;
    if (!config_.daemon.module_host) {
        log_->info("RELOAD {}: Python modules are off (daemon.module_host); nothing was loaded", module_name);
        return;
    }
    if (!protocol::is_safe_identifier(module_name)) {
        log_->warn("RELOAD: '{}' is not a module name (letters, digits, '_', '-', '.'); nothing was loaded",
                   module_name);
        return;
    }
    const std::string path = "claude_modules/" + module_name + ".py";
    if (!is_regular_file(path)) {
        log_->info("RELOAD {}: {} does not exist; nothing was loaded", module_name, path);
        return;
    }
    // The legacy hot-reload manager re-executed the module it had loaded, whatever the name asked for.
    const std::string target = loaded() ? module_path_ : path;
    if (loaded()) {
        if (target != path)
            log_->info("RELOAD {}: {} is loaded; it is re-executed (as the legacy daemon did)", module_name,
                       target);
        child_->stop(std::chrono::milliseconds(0)); // its queued outputs go with it
    }
    start(target);
}

void ModuleHost::start(const std::string& path) {
    PersistentChildSpec spec{{config_.daemon.module_python, "-c", host_source(), path}, ""};
    int error = 0;
    auto self = std::make_shared<std::weak_ptr<PersistentChild>>(); // the child, for its own exit
    auto child = PersistentChild::start(
        executor_, spec, [this](std::string_view bytes) { host_output(bytes); },
        [this, path, self] {
            const auto exited = self->lock();
            if (!exited || exited != child_ || stopping_) return; // replaced by a RELOAD, or shutdown
            log_->warn(
                "module {}: its host exited (status {}); outputs are not observed until the next RELOAD",
                path, exited->returncode());
            child_.reset();
        },
        error);
    if (!child) {
        log_->error("RELOAD: cannot start {} for {}: {}", config_.daemon.module_python, path,
                    std::strerror(error));
        child_.reset();
        return;
    }
    *self = child;
    child_ = std::move(child);
    module_path_ = path;
    dropping_ = false;
    output_line_.clear();
    log_->info("RELOAD: {} runs in a Python host (pid {})", path, child_->pid());
}

void ModuleHost::host_output(std::string_view bytes) {
    for (char c : bytes) {
        if (c != '\n') {
            if (output_line_.size() < max_log_line) output_line_ += c;
            continue;
        }
        log_->info("module {}: {}", module_path_, output_line_);
        output_line_.clear();
    }
}

void ModuleHost::observe(const boost::json::object& output) {
    if (!loaded()) return;
    if (child_->queued_bytes() > max_queued_bytes) {
        if (!dropping_)
            log_->warn(
                "module {}: its host is more than {} bytes behind; outputs are dropped until it catches up",
                module_path_, max_queued_bytes);
        dropping_ = true;
        return;
    }
    dropping_ = false;
    child_->write(boost::json::serialize(output) + "\n");
}

asio::awaitable<void> ModuleHost::shutdown(std::chrono::milliseconds grace,
                                           std::chrono::steady_clock::time_point deadline) {
    stopping_ = true;
    if (!child_) co_return;
    auto child = child_;
    child->stop(grace);
    co_await child->wait_exit(deadline);
}

} // namespace ksid::daemon
