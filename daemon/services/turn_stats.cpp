#include "daemon/services/turn_stats.hpp"

#include <cstdio>

namespace ksid::daemon {

std::string prometheus_number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

void Histogram::observe(double seconds) {
    for (std::size_t i = 0; i < bounds.size(); ++i)
        if (seconds <= bounds[i]) ++counts_[i];
    ++total_;
    sum_ += seconds;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
    const std::string sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i < bounds.size(); ++i)
        out += std::string(name) + "_bucket{" + std::string(labels) + sep + "le=\"" +
               prometheus_number(bounds[i]) + "\"} " + std::to_string(counts_[i]) + "\n";
    out += std::string(name) + "_bucket{" + std::string(labels) + sep + "le=\"+Inf\"} " +
           std::to_string(total_) + "\n";
    const std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
    out += std::string(name) + "_sum" + braces + " " + prometheus_number(sum_) + "\n";
    out += std::string(name) + "_count" + braces + " " + std::to_string(total_) + "\n";
}

} // namespace ksid::daemon
