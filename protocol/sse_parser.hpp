#pragma once
// Incremental parser for a Server-Sent Events stream (the WHATWG event-stream format, as OpenAI-compatible
// servers send chat completion chunks): bytes in, events out. Lines end with LF, CRLF or CR; `data:`
// lines of one event are joined with '\n'; comments (`:`) and unknown fields are ignored. An event larger
// than the bound sets overflowed() and stops the parser.
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

struct SseEvent {
    std::string event; // the `event:` field ("" = the default "message")
    std::string data;
};

class SseParser {
public:
    explicit SseParser(std::size_t max_event_bytes = 16u << 20) : max_event_(max_event_bytes) {}

    void feed(std::string_view bytes, std::vector<SseEvent>& out);
    bool overflowed() const { return overflowed_; }

private:
    void line(std::string_view text, std::vector<SseEvent>& out);

    std::size_t max_event_;
    std::string pending_;   // an incomplete line
    bool after_cr_ = false; // the previous chunk ended with CR: a leading LF belongs to it
    bool has_data_ = false;
    bool overflowed_ = false;
    SseEvent current_;
};

} // namespace ksid::protocol
