#include "daemon/core/logging.hpp"

#include "protocol/utf8.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace ksid::daemon {

namespace {

// Python's level names (WARNING, not "warning" or "warn").
class PythonLevelFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        static constexpr std::string_view names[] = {"TRACE", "DEBUG",    "INFO", "WARNING",
                                                     "ERROR", "CRITICAL", "OFF"};
        const auto name = names[static_cast<int>(msg.level)];
        dest.append(name.data(), name.data() + name.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<PythonLevelFlag>();
    }
};

// The message with control characters and non-UTF-8 bytes escaped (protocol::append_escaped_controls):
// messages carry client values (agent ids, event types, keys, names), and one must never end a line,
// start a forged one or reach a terminal as an escape sequence. Every line goes through here.
class EscapedMessageFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        const std::string_view text(msg.payload.data(), msg.payload.size());
        const bool plain = std::all_of(text.begin(), text.end(), [](char ch) {
            const auto c = static_cast<unsigned char>(ch);
            return c >= 0x20 && c < 0x7f;
        });
        if (plain) {
            dest.append(text.data(), text.data() + text.size());
            return;
        }
        escaped_.clear();
        protocol::append_escaped_controls(text, escaped_);
        dest.append(escaped_.data(), escaped_.data() + escaped_.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<EscapedMessageFlag>();
    }

private:
    std::string escaped_;
};

std::unique_ptr<spdlog::formatter> legacy_formatter() {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<PythonLevelFlag>('*').add_flag<EscapedMessageFlag>('&').set_pattern(
        "%Y-%m-%d %H:%M:%S,%e - %n - %* - %&");
    return f;
}

} // namespace

spdlog::level::level_enum log_level_of(const std::string& level) {
    if (level == "warning") return spdlog::level::warn;
    return spdlog::level::from_str(level);
}

std::shared_ptr<spdlog::logger> make_daemon_logger(const std::string& log_file, const std::string& level) {
    std::vector<spdlog::sink_ptr> sinks;
    try {
        sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_st>(log_file, false));
    } catch (const spdlog::spdlog_ex& e) {
        throw std::runtime_error("cannot open the log file " + log_file + ": " + e.what());
    }
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_st>());
    auto logger = std::make_shared<spdlog::logger>("daemon", sinks.begin(), sinks.end());
    logger->set_formatter(legacy_formatter());
    logger->set_level(log_level_of(level));
    logger->flush_on(spdlog::level::trace); // a crash must not lose the lines before it
    return logger;
}

std::shared_ptr<spdlog::logger> make_stderr_logger() {
    auto logger =
        std::make_shared<spdlog::logger>("daemon", std::make_shared<spdlog::sinks::stderr_sink_st>());
    logger->set_formatter(legacy_formatter());
    return logger;
}

} // namespace ksid::daemon
