#include "protocol/rate_window.hpp"

#include <algorithm>

namespace ksid::protocol {

void RateWindow::expire(std::int64_t now) {
    while (!entries_.empty() && entries_.front().at + window_ms_ <= now) {
        sum_ -= entries_.front().amount;
        entries_.pop_front();
    }
}

std::optional<std::uint64_t> RateWindow::admit(std::int64_t now, std::int64_t amount) {
    expire(now);
    amount = std::max<std::int64_t>(amount, 0);
    if (limit_ <= 0 || (sum_ + amount > limit_ && sum_ > 0)) return std::nullopt;
    const auto id = next_id_++;
    // Time never goes back within one window: an entry older than the last keeps the order.
    const auto at = entries_.empty() ? now : std::max(now, entries_.back().at);
    entries_.push_back({id, at, amount});
    sum_ += amount;
    return id;
}

void RateWindow::settle(std::uint64_t entry, std::int64_t amount) {
    amount = std::max<std::int64_t>(amount, 0);
    for (auto& e : entries_)
        if (e.id == entry) {
            sum_ += amount - e.amount;
            e.amount = amount;
            return;
        }
}

std::int64_t RateWindow::used(std::int64_t now) {
    expire(now);
    return sum_;
}

std::int64_t RateWindow::remaining(std::int64_t now) {
    expire(now);
    return std::max<std::int64_t>(limit_ - sum_, 0);
}

std::int64_t RateWindow::wait_for(std::int64_t now, std::int64_t amount) {
    expire(now);
    amount = std::min(std::max<std::int64_t>(amount, 0), std::max<std::int64_t>(limit_, 0));
    std::int64_t sum = sum_;
    if (sum + amount <= limit_) return 0;
    for (const auto& e : entries_) { // the oldest leave first
        sum -= e.amount;
        if (sum + amount <= limit_) return e.at + window_ms_ - now;
    }
    return window_ms_;
}

std::int64_t RateWindow::reset_after(std::int64_t now) {
    expire(now);
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
        if (it->amount > 0) return it->at + window_ms_ - now;
    return 0;
}

} // namespace ksid::protocol
