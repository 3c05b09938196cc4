#pragma once
// A sliding-window limit, pure: at most `limit` units (requests, tokens) in any `window`. Each admission
// is an entry (time, amount); an entry admitted on an estimate is later settled with the real amount.
// Time is milliseconds on any monotonic clock the caller chooses, so tests drive it by hand.
#include <cstdint>
#include <deque>
#include <optional>

namespace ksid::protocol {

class RateWindow {
public:
    RateWindow(std::int64_t limit, std::int64_t window_ms) : limit_(limit), window_ms_(window_ms) {}

    // Admits `amount` at `now` when it fits (an amount above the limit never fits, unless the window is
    // empty: one large request must not be refused for ever), and returns its entry id; nullopt otherwise.
    std::optional<std::uint64_t> admit(std::int64_t now, std::int64_t amount);
    // Replaces an entry's amount (an estimate by what was used). An entry that left the window is ignored.
    void settle(std::uint64_t entry, std::int64_t amount);
    // Takes an admission back (the turn was refused later, e.g. by the queue).
    void release(std::uint64_t entry) { settle(entry, 0); }

    std::int64_t limit() const { return limit_; }
    std::int64_t used(std::int64_t now);
    std::int64_t remaining(std::int64_t now);
    // Milliseconds until `amount` more would fit (0: it fits now).
    std::int64_t wait_for(std::int64_t now, std::int64_t amount);
    // Milliseconds until the window is back to its full limit (OpenAI's x-ratelimit-reset-*).
    std::int64_t reset_after(std::int64_t now);
    // New bounds (a key's limits were changed); what was admitted stays counted.
    void set_limit(std::int64_t limit) { limit_ = limit; }

private:
    struct Entry {
        std::uint64_t id;
        std::int64_t at;
        std::int64_t amount;
    };
    void expire(std::int64_t now);

    std::int64_t limit_;
    std::int64_t window_ms_;
    std::deque<Entry> entries_; // oldest first
    std::int64_t sum_ = 0;
    std::uint64_t next_id_ = 1;
};

} // namespace ksid::protocol
