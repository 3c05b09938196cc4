#include "protocol/sse_parser.hpp"

namespace ksid::protocol {

void SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
    std::size_t i = 0;
    while (i < bytes.size() && !overflowed_) {
        if (after_cr_) {
            after_cr_ = false;
            if (bytes[i] == '\n') {
                ++i;
                continue;
            }
        }
        const auto end = bytes.find_first_of("\r\n", i);
        if (end == std::string_view::npos) {
            pending_.append(bytes.substr(i));
            if (pending_.size() + current_.data.size() > max_event_) overflowed_ = true;
            return;
        }
        after_cr_ = bytes[end] == '\r';
        if (pending_.empty()) {
            line(bytes.substr(i, end - i), out);
        } else {
            pending_.append(bytes.substr(i, end - i));
            std::string whole = std::move(pending_);
            pending_.clear();
            line(whole, out);
        }
        i = end + 1;
    }
}

void SseParser::line(std::string_view text, std::vector<SseEvent>& out) {
    if (text.empty()) { // dispatch
        if (has_data_) out.push_back(std::move(current_));
        current_ = SseEvent{};
        has_data_ = false;
        return;
    }
    if (text.front() == ':') return; // comment (keep-alive)
    const auto colon = text.find(':');
    const std::string_view field = text.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
        if (has_data_) current_.data += '\n';
        current_.data.append(value);
        has_data_ = true;
        if (current_.data.size() > max_event_) overflowed_ = true;
    } else if (field == "event") {
        current_.event.assign(value);
    }
}

} // namespace ksid::protocol
