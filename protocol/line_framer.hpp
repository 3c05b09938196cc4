#pragma once
// Sans-I/O newline framing for the legacy socket protocol.
//
// Bytes are read straight into the framer's buffer (prepare/commit), so an idle connection holds no
// buffer at all and a connection that streams bytes without a newline is cut off once it passes the
// limit, never buffering more than limit + one read.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ksid::protocol {

class LineFramer {
public:
    enum class Status { line, need_more, too_long };
    struct Event {
        Status status;
        std::string_view line; // without the '\n'; valid until the next prepare()
    };

    explicit LineFramer(std::size_t max_line_bytes) : max_line_(max_line_bytes) {}

    // Writable space of exactly n bytes at the end of the buffered data.
    std::span<char> prepare(std::size_t n);
    void commit(std::size_t n);

    // The next complete line, or why there is none.
    Event next();

    // At end of input: the unterminated rest, processed as a line like the legacy daemon does.
    std::optional<std::string_view> finish();

    // Frees the buffer when nothing is pending (called while a connection idles).
    void release_memory();

    std::size_t buffered() const { return end_ - start_; }
    // The bytes received and not yet returned as lines (RELOAD_DAEMON hands them to the new daemon).
    std::string_view pending() const { return std::string_view(buf_).substr(start_, end_ - start_); }
    std::size_t capacity() const { return buf_.capacity(); }

private:
    std::size_t max_line_;
    std::string buf_;
    std::size_t start_ = 0; // first unconsumed byte
    std::size_t scan_ = 0;  // bytes before this offset hold no '\n'
    std::size_t end_ = 0;   // end of committed data
};

} // namespace ksid::protocol
