#include "protocol/upstream_common.hpp"

#include "protocol/claude_cli.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/utf8.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <charconv>
#include <ctime>

namespace ksid::protocol {
namespace json = boost::json;

boost::system::result<UpstreamBase, std::string> parse_upstream_base(std::string_view text) {
    auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) return std::string("not an absolute URL: '" + std::string(text) + "'");
    const auto& u = *parsed;
    UpstreamBase b;
    if (u.scheme() == "https")
        b.tls = true;
    else if (u.scheme() != "http")
        return std::string("the scheme must be http or https, got '" + std::string(u.scheme()) + "'");
    if (!u.has_authority() || u.encoded_host().empty()) return std::string("the URL has no host");
    if (u.has_userinfo()) return std::string("user info in the URL is not supported (use api_shim.api_key)");
    if (u.has_query() || u.has_fragment()) return std::string("the URL must not have a query or fragment");
    b.host = u.host_type() == boost::urls::host_type::ipv6 ? std::string(u.encoded_host_address())
                                                           : std::string(u.encoded_host());
    if (b.host.find_first_of("%/ \t\r\n") != std::string::npos)
        return std::string("invalid host '" + b.host + "'");
    b.port = b.tls ? 443 : 80;
    if (u.has_port()) {
        if (u.port_number() == 0) return std::string("invalid port '" + std::string(u.port()) + "'");
        b.port = u.port_number();
    }
    b.path = std::string(u.encoded_path());
    if (b.path.find_first_of(" \t\r\n") != std::string::npos) return std::string("invalid path");
    while (!b.path.empty() && b.path.back() == '/')
        b.path.pop_back();
    b.host_header = std::string(u.encoded_host_and_port());
    return b;
}

std::optional<HopProblem> check_hop_chain(std::string_view hops, std::string_view own_id) {
    if (hops.empty()) return std::nullopt;
    if (hops.size() > max_hops * 17 || hops.find_first_not_of("0123456789abcdef,") != std::string_view::npos)
        return HopProblem{true, "malformed X-Ksid-Hop header"};
    std::size_t count = 0;
    for (std::size_t start = 0; start <= hops.size(); ++count) {
        const auto comma = std::min(hops.find(',', start), hops.size());
        if (hops.substr(start, comma - start) == own_id)
            return HopProblem{false,
                              "request loop: this request already passed through this ksid (X-Ksid-Hop); "
                              "check api_shim.base_url"};
        start = comma + 1;
    }
    if (count >= max_hops)
        return HopProblem{false, "request loop: the request passed through " + std::to_string(count) +
                                     " ksid instances"};
    return std::nullopt;
}

long long clamped_count(const json::object& o, std::string_view key) {
    constexpr long long cap = 1'000'000'000'000'000;
    const auto* v = o.if_contains(key);
    if (!v) return 0;
    if (v->is_int64()) return std::clamp<long long>(v->get_int64(), 0, cap);
    if (v->is_uint64()) return static_cast<long long>(std::min<std::uint64_t>(v->get_uint64(), cap));
    if (v->is_double()) {
        const double d = v->get_double();
        return d >= 0 && d <= static_cast<double>(cap) ? static_cast<long long>(d) : (d > 0 ? cap : 0);
    }
    return 0;
}

void add_shim_fields(json::object& r, const std::optional<std::string>& session, const ShimFields& f) {
    r["sessionId"] = session ? json::value(*session) : json::value(nullptr);
    r["model"] = f.model;
    r["timestamp"] = f.timestamp;
    r["agent_id"] = f.agent_id ? json::value(*f.agent_id) : json::value(nullptr);
}

json::object success_result(std::string_view text, std::string_view stop_reason, json::object usage,
                            const std::optional<std::string>& session, long long duration_ms) {
    json::object r{{"type", "result"},           {"subtype", "success"}, {"is_error", false},
                   {"duration_ms", duration_ms}, {"num_turns", 1},       {"result", text},
                   {"stop_reason", stop_reason}};
    if (session) r["session_id"] = *session;
    r["usage"] = std::move(usage);
    return r;
}

namespace {

// A ksid upstream's own result object, when it is a usable one.
std::optional<json::object> ksid_result_of(const json::object& o) {
    const auto* r = o.if_contains("ksid_result");
    if (!r || !r->is_object()) return std::nullopt;
    const auto* type = r->get_object().if_contains("type");
    if (!type || !type->is_string() || type->get_string() != "result") return std::nullopt;
    return r->get_object();
}

// The session id: the upstream's header, else its claude's result.
std::optional<std::string> session_of(std::optional<std::string> header,
                                      const std::optional<json::object>& ksid_result) {
    if (header && is_valid_session_id(*header)) return header;
    if (ksid_result)
        if (const auto* s = ksid_result->if_contains("session_id");
            s && s->is_string() && is_valid_session_id(s->get_string()))
            return std::string(s->get_string());
    return std::nullopt;
}

} // namespace

boost::system::result<json::object, std::string>
cli_result_from_answer(std::string_view body, std::optional<std::string> header_session,
                       const ShimFields& fields, const BuildResult& build) {
    auto parsed = parse_json_text(body, 64);
    if (!parsed) return std::string("the upstream's response is not JSON: " + parsed.error().detail);
    if (!parsed->is_object()) return std::string("the upstream's response is not a JSON object");
    const auto& o = parsed->get_object();
    auto ksid_result = ksid_result_of(o);
    auto session = session_of(std::move(header_session), ksid_result);
    if (ksid_result) {
        add_shim_fields(*ksid_result, session, fields);
        return std::move(*ksid_result);
    }
    auto r = build(o, session);
    if (r) add_shim_fields(*r, session, fields);
    return r;
}

StreamTranslator::StreamTranslator(std::optional<std::string> session, ShimFields fields,
                                   std::size_t max_event_bytes)
    : session_(session && is_valid_session_id(*session) ? std::move(session) : std::nullopt),
      fields_(std::move(fields)), sse_(max_event_bytes) {}

StreamEvent StreamTranslator::init_event() const {
    StreamEvent e{StreamEvent::Kind::init};
    e.session_id = session_;
    e.object = json::object{{"type", "system"}, {"subtype", "init"}, {"model", fields_.model}};
    if (session_) e.object["session_id"] = *session_;
    return e;
}

void StreamTranslator::feed(std::string_view bytes, std::vector<StreamEvent>& out) {
    sse_.feed(bytes, events_);
    for (const auto& e : events_)
        if (!stopped_ && !error_) event(e, out);
    events_.clear();
}

std::optional<json::object> StreamTranslator::object_of(const SseEvent& e) {
    auto parsed = parse_json_text(e.data, 64);
    if (!parsed || !parsed->is_object()) {
        fail("the upstream sent an event that is not a JSON object");
        return std::nullopt;
    }
    if (auto r = ksid_result_of(parsed->get_object())) ksid_result_ = std::move(r);
    return std::move(parsed->get_object());
}

void StreamTranslator::emit_text(std::string_view text, std::vector<StreamEvent>& out) {
    if (text.empty()) return;
    text_.append(text);
    output_bytes_ += text.size() + 96;
    StreamEvent delta{StreamEvent::Kind::text_delta};
    delta.text = std::string(text);
    delta.session_id = session_;
    out.push_back(std::move(delta));
}

using Finished = boost::system::result<json::object, std::string>;

Finished StreamTranslator::finish(long long duration_ms) {
    if (sse_.overflowed())
        return Finished(boost::system::in_place_error,
                        "the upstream sent an event larger than the output limit");
    if (error_) {
        json::object r{{"type", "result"}, {"subtype", "error_during_execution"},
                       {"is_error", true}, {"duration_ms", duration_ms},
                       {"num_turns", 1},   {"result", *error_}};
        if (session_) r["session_id"] = *session_;
        add_shim_fields(r, session_, fields_);
        return Finished(boost::system::in_place_value, std::move(r));
    }
    if (!finished())
        return Finished(boost::system::in_place_error, "the upstream ended the stream before it finished");
    if (ksid_result_) {
        auto r = std::move(*ksid_result_);
        add_shim_fields(r, session_of(session_, r), fields_);
        return Finished(boost::system::in_place_value, std::move(r));
    }
    auto r = result(duration_ms);
    add_shim_fields(r, session_, fields_);
    return Finished(boost::system::in_place_value, std::move(r));
}

namespace {
// Upstream text for logs and error replies: at most `max` bytes cut at a character boundary, valid UTF-8,
// no control characters (a newline must not forge a log line).
std::string printable(std::string_view text, std::size_t max) {
    if (!is_valid_utf8(text)) return "(text that is not UTF-8)";
    std::size_t cut = std::min(max, text.size());
    while (cut < text.size() && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
    std::string out(text.substr(0, cut));
    for (auto& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}
} // namespace

std::string upstream_error_message(std::string_view body) {
    if (auto parsed = parse_json_text(body, 64); parsed && parsed->is_object()) {
        const auto* err = parsed->get_object().if_contains("error");
        if (err && err->is_object())
            if (const auto* m = err->get_object().if_contains("message"); m && m->is_string())
                return printable(m->get_string(), 1000);
        if (err && err->is_string()) return printable(err->get_string(), 1000);
    }
    auto text = printable(body, 300);
    return text.empty() ? "(empty body)" : text;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view retry_after,
                                                           std::string_view retry_after_ms,
                                                           std::chrono::system_clock::time_point now) {
    auto number = [](std::string_view s) -> std::optional<double> {
        while (!s.empty() && s.front() == ' ')
            s.remove_prefix(1);
        while (!s.empty() && s.back() == ' ')
            s.remove_suffix(1);
        double v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || !(v >= 0) || v > 1e9)
            return std::nullopt;
        return v;
    };
    if (auto ms = number(retry_after_ms)) return std::chrono::milliseconds(static_cast<long long>(*ms));
    if (auto s = number(retry_after)) return std::chrono::milliseconds(static_cast<long long>(*s * 1000));
    if (retry_after.size() < 20 || retry_after.size() > 40) return std::nullopt;
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::tm tm{};
    const std::string text(retry_after);
    const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end) return std::nullopt;
    const long long at = ::timegm(&tm); // seconds: no time_point overflow for far-off years
    const long long now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    return std::chrono::milliseconds(std::clamp(at - now_s, 0LL, 86'400LL) * 1000);
}

} // namespace ksid::protocol
