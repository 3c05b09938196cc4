// libFuzzer target: the legacy socket transport's parsing path (framing, UTF-8, JSON, envelope), the
// reply encoders, and the log-line escaping client values go through (never a control byte out), on
// arbitrary bytes.
#include "protocol/legacy_reply.hpp"
#include "protocol/legacy_request.hpp"
#include "protocol/line_framer.hpp"
#include "protocol/python_json.hpp"
#include "protocol/utf8.hpp"

#include <cstdlib>

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::protocol;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::string escaped = escape_controls(input);
    if (!is_valid_utf8(escaped)) std::abort();
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        const auto c = static_cast<unsigned char>(escaped[i]);
        if (c < 0x20 || c == 0x7f) std::abort();
        if (c == 0xC2 && i + 1 < escaped.size() && static_cast<unsigned char>(escaped[i + 1]) < 0xA0)
            std::abort();
    }
    LineFramer framer(4096);
    // feed in uneven pieces, as reads would deliver them
    std::size_t offset = 0, piece = 1;
    bool first = true;
    while (offset < input.size()) {
        const std::size_t n = std::min(piece, input.size() - offset);
        auto space = framer.prepare(n);
        std::memcpy(space.data(), input.data() + offset, n);
        framer.commit(n);
        offset += n;
        piece = piece * 3 % 97 + 1;
        for (;;) {
            auto event = framer.next();
            if (event.status != LineFramer::Status::line) break;
            auto decoded =
                decode_legacy_line(event.line, first ? LinePosition::first : LinePosition::follow_up);
            first = false;
            if (decoded.kind == DecodedLine::Kind::request) {
                std::string text = to_python_json(decoded.request.envelope);
                (void)encode_success_reply(decoded.request.command, decoded.request.envelope);
            } else if (decoded.kind == DecodedLine::Kind::error_reply) {
                (void)encode_error_reply(decoded.error_code, decoded.error_message, "2025-01-01T00:00:00Z");
            }
        }
    }
    if (auto rest = framer.finish()) (void)decode_legacy_line(*rest, LinePosition::first);
    return 0;
}
