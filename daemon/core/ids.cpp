#include "daemon/core/ids.hpp"

#include <cstdint>
#include <cstdio>
#include <random>

namespace ksid::daemon {

namespace {
std::mt19937_64& rng() {
    static std::mt19937_64 engine = [] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }();
    return engine;
}
} // namespace

std::string uuid4() {
    std::uint64_t hi = rng()(), lo = rng()();
    hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull; // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull; // RFC 4122 variant
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                  static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    return buf;
}

std::string short_process_id() {
    return uuid4().substr(0, 8);
}

} // namespace ksid::daemon

namespace ksid::daemon {

const std::string& instance_id() {
    static const std::string id = [] {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()()));
        return std::string(buf);
    }();
    return id;
}

} // namespace ksid::daemon
