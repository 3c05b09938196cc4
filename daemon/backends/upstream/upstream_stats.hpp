#pragma once
// The API shim's counters, for /metrics.
#include <cstdint>
#include <map>
#include <string>

namespace ksid::daemon {

struct UpstreamStats {
    std::uint64_t calls = 0;
    std::uint64_t completed = 0;
    std::uint64_t retries = 0;
    std::uint64_t fallbacks = 0;
    std::map<std::string, std::uint64_t> failures; // by kind: connect, tls, http_<status>, after_send, ...
};

} // namespace ksid::daemon
