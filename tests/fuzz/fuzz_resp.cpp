// libFuzzer target: RESP replies (hiredis's reader behind protocol::RespReader) fed in chunks, the Redis URL
// parser, and the command encoder round trip.
#include "protocol/resp.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::protocol;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    RespReader reader;
    const std::size_t chunk = size % 7 + 1;
    for (std::size_t i = 0; i < input.size(); i += chunk) {
        reader.feed(input.substr(i, chunk));
        for (;;) {
            auto reply = reader.next();
            if (!reply) return 0; // not RESP: the connection would be closed
            if (!*reply) break;
            (void)resp_summary(**reply);
            (void)(*reply)->as_integer();
        }
    }
    std::string why;
    if (auto a = parse_redis_url(input, why)) (void)a->text();
    // Any arguments encode into one command that parses back as an array of the same strings.
    std::vector<std::string> args{std::string(input.substr(0, size / 2)),
                                  std::string(input.substr(size / 2))};
    RespReader back;
    back.feed(resp_command(args));
    auto parsed = back.next();
    if (!parsed || !*parsed || (*parsed)->elements.size() != 2 || (*parsed)->elements[0].text != args[0] ||
        (*parsed)->elements[1].text != args[1])
        std::abort();
    return 0;
}
