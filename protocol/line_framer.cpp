#include "protocol/line_framer.hpp"

#include <cstring>

namespace ksid::protocol {

std::span<char> LineFramer::prepare(std::size_t n) {
    if (start_ > 0) { // compact: keep the pending bytes at the front
        std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
        scan_ -= start_;
        end_ -= start_;
        start_ = 0;
    }
    if (buf_.size() < end_ + n) buf_.resize(end_ + n);
    return {buf_.data() + end_, n};
}

void LineFramer::commit(std::size_t n) {
    end_ += n;
}

LineFramer::Event LineFramer::next() {
    const void* nl = scan_ < end_ ? std::memchr(buf_.data() + scan_, '\n', end_ - scan_) : nullptr;
    if (nl == nullptr) {
        scan_ = end_;
        if (end_ - start_ > max_line_) return {Status::too_long, {}};
        return {Status::need_more, {}};
    }
    const std::size_t pos = static_cast<const char*>(nl) - buf_.data();
    std::string_view line(buf_.data() + start_, pos - start_);
    start_ = scan_ = pos + 1;
    if (line.size() > max_line_) return {Status::too_long, {}};
    return {Status::line, line};
}

std::optional<std::string_view> LineFramer::finish() {
    if (start_ == end_) return std::nullopt;
    std::string_view rest(buf_.data() + start_, end_ - start_);
    start_ = scan_ = end_;
    if (rest.size() > max_line_) return std::nullopt;
    return rest;
}

void LineFramer::release_memory() {
    if (start_ != end_) return;
    std::string().swap(buf_);
    start_ = scan_ = end_ = 0;
}

} // namespace ksid::protocol
