#include "protocol/resp.hpp"

#include <hiredis/hiredis.h>

#include <cctype>
#include <charconv>

namespace ksid::protocol {

std::optional<long long> RespValue::as_integer() const {
    if (type == Type::integer) return integer;
    if (type != Type::string && type != Type::status) return std::nullopt;
    long long v = 0;
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || p != end || text.empty()) return std::nullopt;
    return v;
}

std::string resp_command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    char* out = nullptr;
    const int n = redisFormatCommandArgv(&out, static_cast<int>(args.size()), argv.data(), lengths.data());
    if (n < 0 || !out) throw std::bad_alloc(); // hiredis fails only when out of memory
    std::string command(out, static_cast<std::size_t>(n));
    redisFreeCommand(out);
    return command;
}

namespace {

RespValue copy_reply(const redisReply& r) {
    RespValue v;
    switch (r.type) {
    case REDIS_REPLY_STATUS:
        v.type = RespValue::Type::status;
        v.text.assign(r.str, r.len);
        break;
    case REDIS_REPLY_ERROR:
        v.type = RespValue::Type::error;
        v.text.assign(r.str, r.len);
        break;
    case REDIS_REPLY_STRING:
        v.type = RespValue::Type::string;
        v.text.assign(r.str, r.len);
        break;
    case REDIS_REPLY_INTEGER:
        v.type = RespValue::Type::integer;
        v.integer = r.integer;
        break;
    case REDIS_REPLY_ARRAY:
        v.type = RespValue::Type::array;
        v.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i)
            v.elements.push_back(r.element[i] ? copy_reply(*r.element[i]) : RespValue{});
        break;
    default: // REDIS_REPLY_NIL
        break;
    }
    return v;
}

} // namespace

struct RespReader::Impl {
    redisReader* reader = redisReaderCreate();
    // Bytes not yet given to hiredis: every header is checked first, since hiredis 0.14 allocates what an
    // aggregate's header announces (an array of 555 million elements is 4 GB before any of them arrives).
    std::string unchecked;
    std::size_t payload_left = 0; // bytes of a bulk string (and its CRLF) to pass unchecked
    std::string error;
    ~Impl() {
        if (reader) redisReaderFree(reader);
    }
};

RespReader::RespReader() : impl_(std::make_unique<Impl>()) {
    if (!impl_->reader) throw std::bad_alloc();
}
RespReader::~RespReader() = default;
RespReader::RespReader(RespReader&&) noexcept = default;
RespReader& RespReader::operator=(RespReader&&) noexcept = default;

namespace {
constexpr long long max_elements = 1 << 20; // far above any reply ksid asks for
constexpr long long max_bulk = 512ll << 20; // Redis's own proto-max-bulk-len
constexpr std::size_t max_line = 64 * 1024; // a status, error or number line
} // namespace

void RespReader::feed(std::string_view bytes) {
    auto& d = *impl_;
    if (bytes.empty() || !d.error.empty()) return;
    d.unchecked.append(bytes);
    std::size_t pos = 0;
    while (pos < d.unchecked.size()) {
        if (d.payload_left > 0) {
            const auto take = std::min(d.payload_left, d.unchecked.size() - pos);
            pos += take;
            d.payload_left -= take;
            continue;
        }
        const auto eol = d.unchecked.find("\r\n", pos);
        if (eol == std::string::npos) {
            if (d.unchecked.size() - pos > max_line) d.error = "a line of over 64 KiB";
            break;
        }
        const char type = d.unchecked[pos];
        if (type == '$' || type == '*') {
            long long n = 0;
            const char* first = d.unchecked.data() + pos + 1;
            const char* last = d.unchecked.data() + eol;
            auto [p, ec] = std::from_chars(first, last, n);
            if (ec != std::errc() || p != last || n < -1)
                d.error = "a bad length";
            else if (type == '*' && n > max_elements)
                d.error = "an array of over 2^20 elements";
            else if (type == '$' && n > max_bulk)
                d.error = "a string of over 512 MiB";
            else if (type == '$' && n >= 0)
                d.payload_left = static_cast<std::size_t>(n) + 2;
        } else if (type != '+' && type != '-' && type != ':') {
            d.error = "an unknown reply type";
        }
        if (!d.error.empty()) break;
        pos = eol + 2;
    }
    if (pos > 0) {
        if (redisReaderFeed(d.reader, d.unchecked.data(), pos) != REDIS_OK) throw std::bad_alloc();
        d.unchecked.erase(0, pos);
    }
}

boost::system::result<std::optional<RespValue>, std::string> RespReader::next() {
    void* raw = nullptr;
    if (!impl_->error.empty()) return "not RESP: " + impl_->error;
    if (redisReaderGetReply(impl_->reader, &raw) != REDIS_OK)
        return std::string("not RESP: ") + impl_->reader->errstr;
    if (!raw) return std::optional<RespValue>{};
    auto* reply = static_cast<redisReply*>(raw);
    auto value = copy_reply(*reply);
    freeReplyObject(reply);
    return std::optional<RespValue>(std::move(value));
}

std::size_t RespReader::buffered() const {
    return impl_->reader->len - impl_->reader->pos + impl_->unchecked.size();
}

std::string resp_summary(const RespValue& v) {
    switch (v.type) {
    case RespValue::Type::nil:
        return "(nil)";
    case RespValue::Type::integer:
        return std::to_string(v.integer);
    case RespValue::Type::array:
        return "[" + std::to_string(v.elements.size()) + " elements]";
    default:
        return v.text.size() > 200 ? v.text.substr(0, 200) + "..." : v.text;
    }
}

std::string RedisAddress::text() const {
    return "redis://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port) + "/" + std::to_string(db);
}

std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string& why) {
    RedisAddress a;
    constexpr std::string_view scheme = "redis://";
    if (url.starts_with("rediss://")) {
        why = "rediss:// (TLS) is not supported; use redis:// on a trusted network or a TLS tunnel";
        return std::nullopt;
    }
    if (!url.starts_with(scheme)) {
        why = "a Redis URL starts with redis://";
        return std::nullopt;
    }
    std::string_view rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const auto credentials = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const auto colon = credentials.find(':');
        if (colon == std::string_view::npos) {
            a.password = std::string(credentials);
        } else {
            a.user = std::string(credentials.substr(0, colon));
            a.password = std::string(credentials.substr(colon + 1));
        }
    }
    std::string_view host = authority, port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "an IPv6 host is written [addr]";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        const auto after = authority.substr(close + 1);
        if (after.starts_with(':'))
            port = after.substr(1);
        else if (!after.empty()) {
            why = "unexpected text after the host";
            return std::nullopt;
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) {
        why = "the URL names no host";
        return std::nullopt;
    }
    for (char c : host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_')) {
            why = "the host is not a name or an address";
            return std::nullopt;
        }
    a.host = std::string(host);
    if (!port.empty()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) {
            why = "the port is not a number from 1 to 65535";
            return std::nullopt;
        }
        a.port = static_cast<std::uint16_t>(v);
    }
    if (!path.empty()) {
        int v = -1;
        auto [p, ec] = std::from_chars(path.data(), path.data() + path.size(), v);
        if (ec != std::errc() || p != path.data() + path.size() || v < 0 || v > 1023) {
            why = "the database is not a number from 0 to 1023";
            return std::nullopt;
        }
        a.db = v;
    }
    return a;
}

} // namespace ksid::protocol
