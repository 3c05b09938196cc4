// A fake `claude` for fast tests, fault injection and the benchmark. It answers like
// `claude --print --output-format json|stream-json` and misbehaves on request: the prompt (stdin) may
// contain FAKE:<mode> (see below). Not a substitute for the real CLI, which the tests also run.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <iostream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

std::string json_escape(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out;
}

std::string new_uuid() {
    unsigned char b[16] = {};
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!::read(fd, b, sizeof b);
        ::close(fd);
    }
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    char s[37];
    std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                  b[15]);
    return s;
}

void write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
    }
}

bool has(const std::string& prompt, const char* mode) {
    return prompt.find(std::string("FAKE:") + mode) != std::string::npos;
}


// The string value of "key": "..." in a JSON line (enough for the lines ksid writes).
std::string json_string_after(const std::string& line, const std::string& key) {
    auto pos = line.find("\"" + key + "\":");
    if (pos == std::string::npos) return "";
    pos = line.find('"', pos + key.size() + 3);
    if (pos == std::string::npos) return "";
    std::string out;
    for (std::size_t i = pos + 1; i < line.size(); ++i) {
        char c = line[i];
        if (c == '"') break;
        if (c == '\\' && i + 1 < line.size()) {
            char e = line[++i];
            if (e == 'n') out += '\n';
            else if (e == 't') out += '\t';
            else if (e == 'u' && i + 4 < line.size()) {
                out += static_cast<char>(std::strtol(line.substr(i + 1, 4).c_str(), nullptr, 16));
                i += 4;
            } else out += e;
        } else {
            out += c;
        }
    }
    return out;
}

// `claude --input-format stream-json`: one user turn per stdin line, answered with init, deltas, the
// assistant message and a result whose total_cost_usd is cumulative, as the real CLI does. Per-turn
// faults by prompt: FAKE:hang-turn (starts, then no answer until an interrupt), FAKE:deaf-turn (starts, then
// ignores interrupts too), FAKE:die-turn (exits before any output), FAKE:die-mid (exits after the first
// delta), FAKE:silent-turn (no output at all and deaf: for the output-idle limit).
// FAKE:structured=<JSON to the end of the line> puts that JSON in the result as structured_output.
int stream_input_loop(const std::string& model, std::string session) {
    if (session.empty()) session = new_uuid();
    std::string pending;
    char buf[65536];
    int turns = 0;
    bool hanging = false, deaf = false;
    for (;;) {
        const auto nl = pending.find('\n');
        if (nl == std::string::npos) {
            ssize_t n = ::read(0, buf, sizeof buf);
            if (n <= 0) return 0; // stdin closed: exit 0, as the CLI does
            pending.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        const std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (line.find("\"control_request\"") != std::string::npos) {
            const std::string id = json_string_after(line, "request_id");
            if (deaf) continue;
            write_all(1, "{\"type\":\"control_response\",\"response\":{\"subtype\":\"success\",\"request_id\":\"" + id +
                             "\"}}\n");
            if (hanging) {
                hanging = false;
                write_all(1, "{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,"
                             "\"result\":\"interrupted\",\"session_id\":\"" + session +
                                 "\",\"total_cost_usd\":" + std::to_string(0.0001 * turns) +
                                 ",\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}\n");
            }
            continue;
        }
        if (line.find("\"user\"") == std::string::npos) continue;
        if (hanging) continue; // the real CLI answers one turn at a time
        const std::string prompt = json_string_after(line, "content");
        ++turns;
        if (has(prompt, "die-turn")) return 3;
        if (has(prompt, "silent-turn")) { // no output at all, deaf to interrupts
            hanging = deaf = true;
            continue;
        }
        write_all(1, "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"" + session + "\",\"model\":\"" +
                         json_escape(model) + "\"}\n");
        if (has(prompt, "hang-turn") || has(prompt, "deaf-turn")) { // started, then no answer
            hanging = true;
            deaf = has(prompt, "deaf-turn");
            continue;
        }
        const std::string answer = "ECHO[" + std::to_string(turns) + "]: " + prompt;
        write_all(1, "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                     "{\"type\":\"text_delta\",\"text\":\"" + json_escape(answer) + "\"}},\"session_id\":\"" + session +
                         "\"}\n");
        if (has(prompt, "die-mid")) return 4;
        write_all(1, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"" +
                         json_escape(answer) + "\"}]},\"session_id\":\"" + session + "\"}\n");
        write_all(1, "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":1,\"result\":\"" +
                         json_escape(answer) + "\",\"stop_reason\":\"end_turn\",\"session_id\":\"" + session +
                         "\",\"total_cost_usd\":" + std::to_string(0.0001 * turns) + ",\"fake_pid\":" +
                         std::to_string(::getpid()) + ",\"fake_turn\":" + std::to_string(turns) +
                         ",\"usage\":{\"input_tokens\":3,\"output_tokens\":5}}\n");
    }
}

} // namespace

int main(int argc, char** argv) {
    std::string resume, output_format = "json", model, input_format = "text";
    bool partial = false;
    std::string argv_json = "[";
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        argv_json += (i ? ", \"" : "\"") + json_escape(a) + "\"";
        if (a == "--resume" && i + 1 < argc) resume = argv[i + 1];
        if (a.rfind("--resume=", 0) == 0) resume = a.substr(9);
        if (a == "--input-format" && i + 1 < argc) input_format = argv[i + 1];
        if (a == "--output-format" && i + 1 < argc) output_format = argv[i + 1];
        if (a == "--model" && i + 1 < argc) model = argv[i + 1];
        if (a == "--include-partial-messages") partial = true;
    }
    argv_json += "]";
    if (input_format == "stream-json") return stream_input_loop(model, resume);

    std::string prompt;
    const char* env_mode = std::getenv("FAKE_CLAUDE_MODE");
    if (env_mode && std::strstr(env_mode, "noread")) {
        prompt = "FAKE:noread";
    } else {
        char buf[65536];
        ssize_t n;
        while ((n = ::read(0, buf, sizeof buf)) > 0)
            prompt.append(buf, static_cast<std::size_t>(n));
    }
    if (env_mode) prompt += std::string(" FAKE:") + env_mode;

    if (has(prompt, "sleep=")) {
        const auto pos = prompt.find("FAKE:sleep=") + 11;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(prompt.c_str() + pos)));
    }
    if (has(prompt, "hang-ignore-term")) {
        std::signal(SIGTERM, SIG_IGN);
        for (;;)
            ::pause();
    }
    if (has(prompt, "hang")) {
        for (;;)
            ::pause();
    }
    if (has(prompt, "grandchild")) {
        if (::fork() == 0) { // keeps stdout open, in our process group
            ::sleep(60);
            _exit(0);
        }
    }
    if (has(prompt, "setsid-grandchild")) {
        // A tool that daemonises: a grandchild in a session of its own (out of our process group), which
        // starts a child of its own; both pids go to setsid_grandchild.pid in the working directory.
        if (::fork() == 0) {
            ::setsid();
            const int null = ::open("/dev/null", O_RDWR);
            for (int fd = 0; fd < 3; ++fd)
                ::dup2(null, fd);
            const pid_t child = ::fork();
            if (child == 0) {
                ::sleep(60);
                _exit(0);
            }
            const std::string pids = std::to_string(::getpid()) + " " + std::to_string(child) + "\n";
            const int f = ::open("setsid_grandchild.pid.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0600);
            write_all(f, pids);
            ::close(f);
            ::rename("setsid_grandchild.pid.tmp", "setsid_grandchild.pid");
            ::sleep(60);
            _exit(0);
        }
        while (::access("setsid_grandchild.pid", F_OK) != 0) // the run ends once the escape is complete
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (has(prompt, "linger=")) { // like sleep=, after the modes above
        const auto pos = prompt.find("FAKE:linger=") + 12;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(prompt.c_str() + pos)));
    }
    if (has(prompt, "crash")) {
        write_all(2, "fake claude: simulated crash\n");
        return 3;
    }
    if (has(prompt, "empty")) return 0;
    if (has(prompt, "invalid")) {
        write_all(1, "this is not json\n");
        return 0;
    }
    if (has(prompt, "list")) {
        write_all(1, "[1, 2]\n");
        return 0;
    }
    if (has(prompt, "badutf8")) {
        write_all(1, "\xff\xfe{}\n");
        return 0;
    }
    if (has(prompt, "huge")) {
        std::string chunk(1 << 20, 'x');
        for (int i = 0; i < 256; ++i)
            write_all(1, chunk);
        return 0;
    }
    if (prompt.size() >= 5 && prompt.compare(0, 5, "ERROR") == 0) { // like the CLI with an empty prompt
        write_all(2, "Error: No messages returned from query\n");
        return 1;
    }
    if (prompt.empty()) {
        write_all(2, "Error: Input must be provided either through stdin or as a prompt argument when using "
                     "--print\n");
        return 1;
    }
    if (!resume.empty() && has(prompt, "unknown-session")) {
        write_all(2, "No conversation found with session ID: " + resume + "\n");
        return 1;
    }

    std::string session = resume.empty() ? new_uuid() : resume;
    if (has(prompt, "badsession")) session = "../../etc/passwd";
    if (const auto at = prompt.find("FAKE:session="); at != std::string::npos) // reports that session id
        session = prompt.substr(at + 13, prompt.find_first_of(" \n", at) - at - 13);
    std::string extra;
    if (has(prompt, "fds")) {
        extra += ", \"fds\": [";
        if (DIR* d = ::opendir("/proc/self/fd")) {
            bool first = true;
            while (dirent* e = ::readdir(d)) {
                if (e->d_name[0] == '.') continue;
                extra += std::string(first ? "" : ", ") + e->d_name;
                first = false;
            }
            ::closedir(d);
        }
        extra += "]";
    }
    std::string structured;
    if (const auto at = prompt.find("FAKE:structured="); at != std::string::npos) // a StructuredOutput answer
        structured = ", \"structured_output\": " + prompt.substr(at + 16, prompt.find('\n', at) - at - 16);
    extra += structured;
    if (has(prompt, "pgid"))
        extra += ", \"own_process_group\": " + std::string(::getpgid(0) == ::getpid() ? "true" : "false");
    char cwd[4096] = {};
    if (::getcwd(cwd, sizeof cwd)) extra += ", \"cwd\": \"" + json_escape(cwd) + "\"";
    const std::string answer = "ECHO: " + prompt;
    const std::string session_field =
        has(prompt, "sessionless") ? "" : ", \"session_id\": \"" + json_escape(session) + "\"";

    if (output_format == "stream-json") {
        write_all(1, "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"" + session +
                         "\",\"model\":\"" + json_escape(model) + "\"}\n");
        if (has(prompt, "latency")) { // benchmark: each delta carries the time it was written
            for (int i = 0; i < 50; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
                const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
                write_all(
                    1, "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\",\"index\":0,"
                       "\"delta\":{\"type\":\"text_delta\",\"text\":\"T@" +
                           std::to_string(now) + "@ \"}},\"session_id\":\"" + session + "\"}\n");
            }
        }
        // FAKE:ratelimit=STATUS:RESETS_AT[:TYPE]: a rate_limit_event; "rejected" then ends the turn as the
        // CLI does when the subscription's limit is reached (a synthetic message and an error result).
        if (const auto at = prompt.find("FAKE:ratelimit="); at != std::string::npos) {
            const std::string spec = prompt.substr(at + 15, prompt.find_first_of(" \n", at) - at - 15);
            const auto c1 = spec.find(':');
            const auto c2 = spec.find(':', c1 + 1);
            const std::string status = spec.substr(0, c1);
            const std::string resets = spec.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
            const std::string type = c2 == std::string::npos ? "five_hour" : spec.substr(c2 + 1);
            write_all(1, "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"" + status +
                             "\",\"resetsAt\":" + resets + ",\"rateLimitType\":\"" + type +
                             "\",\"utilization\":" + (status == "rejected" ? "1.0" : "0.85") +
                             ",\"isUsingOverage\":false},\"session_id\":\"" + session + "\"}\n");
            if (status == "rejected") {
                const std::string text = "You've hit your limit \u00b7 resets 4pm (UTC)";
                write_all(1, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"" +
                                 text + "\"}]},\"session_id\":\"" + session + "\"}\n");
                write_all(1, "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"" + text +
                                 "\",\"session_id\":\"" + session +
                                 "\",\"total_cost_usd\":0,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}\n");
                return 1;
            }
        }
        std::string words = answer;
        std::size_t pos = 0;
        while (partial && pos < words.size()) {
            std::size_t next = words.find(' ', pos + 1);
            if (next == std::string::npos) next = words.size();
            write_all(1, "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\",\"index\":0,"
                         "\"delta\":"
                         "{\"type\":\"text_delta\",\"text\":\"" +
                             json_escape(words.substr(pos, next - pos)) + "\"}},\"session_id\":\"" + session +
                             "\"}\n");
            if (has(prompt, "slowstream")) std::this_thread::sleep_for(std::chrono::milliseconds(200));
            pos = next;
        }
        write_all(1, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"" +
                         json_escape(answer) + "\"}]},\"session_id\":\"" + session + "\"}\n");
        write_all(1, "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"" +
                         json_escape(answer) + "\",\"stop_reason\":\"end_turn\",\"session_id\":\"" + session +
                         "\",\"total_cost_usd\":0.0001,\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":1,\"cache_read_"
                         "input_tokens\":2,"
                         "\"output_tokens\":5}" + structured + "}\n");
        return 0;
    }

    if (has(prompt, "stderr")) write_all(2, "warning: fake stderr noise\n");
    write_all(1, "{\"type\": \"result\", \"subtype\": \"success\", \"is_error\": false, \"duration_ms\": 1, "
                 "\"result\": \"" +
                     json_escape(answer) + "\"" + session_field +
                     ", \"total_cost_usd\": 0.0001, \"usage\": {\"input_tokens\": 3, \"output_tokens\": 5}, "
                     "\"argv\": " +
                     argv_json + extra + "}\n");
    return has(prompt, "nonzero") ? 2 : 0;
}
