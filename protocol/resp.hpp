#pragma once
// RESP2, the Redis wire format, sans I/O: commands are encoded with hiredis's formatter and replies parsed
// with hiredis's reader (Debian's libhiredis; Boost.Redis would replace both on Boost >= 1.84). The
// connection that moves the bytes is daemon/redis/redis_connection.
#include <boost/system/result.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksid::protocol {

// One reply, owned (hiredis's reply tree is copied out and freed at once).
struct RespValue {
    enum class Type { nil, status, error, integer, string, array };
    Type type = Type::nil;
    std::string text; // status, error and string replies
    long long integer = 0;
    std::vector<RespValue> elements;

    bool is_nil() const { return type == Type::nil; }
    bool is_error() const { return type == Type::error; }
    bool is_array() const { return type == Type::array; }
    bool is_string() const { return type == Type::string || type == Type::status; }
    bool is_integer() const { return type == Type::integer; }
    // An integer reply, or a string one that holds a decimal integer.
    std::optional<long long> as_integer() const;
};

// `*N\r\n$len\r\narg\r\n...`: one command, binary safe.
std::string resp_command(const std::vector<std::string>& args);

// Parses a byte stream of replies. feed() what the socket read; next() returns each complete reply in
// order, nullopt while one is incomplete, or an error for bytes that are not RESP (the stream is then
// unusable: close the connection).
class RespReader {
public:
    RespReader();
    ~RespReader();
    RespReader(RespReader&&) noexcept;
    RespReader& operator=(RespReader&&) noexcept;

    void feed(std::string_view bytes);
    boost::system::result<std::optional<RespValue>, std::string> next();
    // Bytes fed and not yet parsed into a reply.
    std::size_t buffered() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A reply's text for logs: "(nil)", "ERR ...", "42", the string (cut at 200 bytes), "[3 elements]".
std::string resp_summary(const RespValue& v);

// redis://[user:password@]host[:port][/db]; nullopt with `why` for anything else (rediss:// is refused:
// no TLS to Redis yet).
struct RedisAddress {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    int db = 0;
    std::string user;         // AUTH user (Redis 6 ACL), may be empty
    std::string password;     // secret: never printed
    std::string text() const; // redis://host:port/db, without the password
};
std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string& why);

} // namespace ksid::protocol
