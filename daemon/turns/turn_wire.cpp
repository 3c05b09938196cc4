#include "daemon/turns/turn_wire.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

#include <concepts>
#include <exception>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ksid::daemon {

namespace json = boost::json;

namespace {

// ---- encoding -----------------------------------------------------------------------------------------

json::object image_to_json(const protocol::ImageInput& image) {
    json::object o;
    o["media_type"] = image.media_type;
    o["data"] = image.data;
    o["url"] = image.url;
    o["bytes"] = static_cast<std::uint64_t>(image.bytes);
    return o;
}

json::array images_to_json(const std::vector<protocol::ImageInput>& images) {
    json::array a;
    a.reserve(images.size());
    for (const auto& image : images)
        a.push_back(image_to_json(image));
    return a;
}

json::object client_tool_to_json(const protocol::ClientTool& tool) {
    json::object o;
    o["name"] = tool.name;
    o["description"] = tool.description;
    o["input_schema"] = tool.input_schema;
    return o;
}

json::object tool_result_to_json(const protocol::ClientToolResult& r) {
    json::object o;
    o["tool_use_id"] = r.tool_use_id;
    o["content"] = r.content;
    o["is_error"] = r.is_error;
    o["images"] = images_to_json(r.images);
    return o;
}

json::object tool_call_to_json(const protocol::ClientToolCall& call) {
    json::object o;
    o["id"] = call.id;
    o["name"] = call.name;
    o["input"] = call.input;
    return o;
}

json::object answer_to_json(const TurnAnswer& a) {
    json::object o;
    if (a.session_id) o["session_id"] = *a.session_id;
    o["text"] = a.text;
    o["stop_reason"] = a.stop_reason;
    o["usage"] = a.usage;
    o["cost_usd"] = a.cost_usd;
    o["is_error"] = a.is_error;
    json::array calls;
    calls.reserve(a.tool_calls.size());
    for (const auto& call : a.tool_calls)
        calls.push_back(tool_call_to_json(call));
    o["tool_calls"] = std::move(calls);
    if (a.structured_output) // present even when it is JSON null
        o["structured_output"] = *a.structured_output;
    o["cli_result"] = a.cli_result;
    return o;
}

json::object process_to_json(const ProcessOutput& p) {
    json::object o;
    o["stdout_data"] = p.stdout_data;
    o["stderr_data"] = p.stderr_data;
    o["returncode"] = p.returncode;
    return o;
}

json::object error_to_json(const boost::system::error_code& ec) {
    json::object o;
    o["category"] = ec.category().name();
    o["value"] = ec.value();
    if (ec.category() != ksid_category()) o["message"] = ec.message();
    return o;
}

// ---- decoding -----------------------------------------------------------------------------------------

template <class I>
bool integer_of(const json::value& v, I& out) {
    if (const auto* p = v.if_int64()) {
        if (!std::in_range<I>(*p)) return false;
        out = static_cast<I>(*p);
        return true;
    }
    if (const auto* p = v.if_uint64()) {
        if (!std::in_range<I>(*p)) return false;
        out = static_cast<I>(*p);
        return true;
    }
    return false;
}

// Reads an object's fields into typed values: a missing field leaves its target alone (the default), one of
// the wrong type clears ok.
class Fields {
public:
    explicit Fields(const json::object& o) : o_(o) {}

    bool ok() const { return ok_; }
    void fail() { ok_ = false; }
    const json::value* find(std::string_view key) const { return o_.if_contains(key); }

    void get(std::string_view key, std::string& out) {
        if (const auto* v = find(key)) {
            if (const auto* s = v->if_string())
                out.assign(s->data(), s->size());
            else
                fail();
        }
    }
    // Absent or null: nullopt.
    void get(std::string_view key, std::optional<std::string>& out) {
        if (const auto* v = find(key); v && !v->is_null()) {
            if (const auto* s = v->if_string())
                out.emplace(s->data(), s->size());
            else
                fail();
        }
    }
    void get(std::string_view key, bool& out) {
        if (const auto* v = find(key)) {
            if (const auto* b = v->if_bool())
                out = *b;
            else
                fail();
        }
    }
    template <std::integral I>
    requires(!std::same_as<I, bool>) void get(std::string_view key, I& out) {
        if (const auto* v = find(key); v && !integer_of(*v, out)) fail();
    }
    void get(std::string_view key, double& out) {
        if (const auto* v = find(key)) {
            if (const auto* d = v->if_double())
                out = *d;
            else if (const auto* i = v->if_int64())
                out = static_cast<double>(*i);
            else if (const auto* u = v->if_uint64())
                out = static_cast<double>(*u);
            else
                fail();
        }
    }
    void get(std::string_view key, json::object& out) {
        if (const auto* v = find(key)) {
            if (const auto* o = v->if_object())
                out = *o; // copied into out's (default) storage
            else
                fail();
        }
    }
    // Any value.
    void get(std::string_view key, json::value& out) {
        if (const auto* v = find(key)) out = *v;
    }
    // An array whose elements `decode(const json::value&, T&)` reads.
    template <class T, class Decode>
    void get_array(std::string_view key, std::vector<T>& out, Decode decode) {
        const auto* v = find(key);
        if (!v) return;
        const auto* a = v->if_array();
        if (!a) return fail();
        out.clear();
        out.reserve(a->size());
        for (const auto& element : *a) {
            T item;
            if (!decode(element, item)) return fail();
            out.push_back(std::move(item));
        }
    }

private:
    const json::object& o_;
    bool ok_ = true;
};

bool decode_image(const json::value& v, protocol::ImageInput& image) {
    const auto* o = v.if_object();
    if (!o) return false;
    Fields f(*o);
    f.get("media_type", image.media_type);
    f.get("data", image.data);
    f.get("url", image.url);
    f.get("bytes", image.bytes);
    return f.ok();
}

bool decode_client_tool(const json::value& v, protocol::ClientTool& tool) {
    const auto* o = v.if_object();
    if (!o) return false;
    Fields f(*o);
    f.get("name", tool.name);
    f.get("description", tool.description);
    f.get("input_schema", tool.input_schema);
    return f.ok();
}

bool decode_tool_result(const json::value& v, protocol::ClientToolResult& r) {
    const auto* o = v.if_object();
    if (!o) return false;
    Fields f(*o);
    f.get("tool_use_id", r.tool_use_id);
    f.get("content", r.content);
    f.get("is_error", r.is_error);
    f.get_array("images", r.images, decode_image);
    return f.ok();
}

bool decode_tool_call(const json::value& v, protocol::ClientToolCall& call) {
    const auto* o = v.if_object();
    if (!o) return false;
    Fields f(*o);
    f.get("id", call.id);
    f.get("name", call.name);
    f.get("input", call.input);
    return f.ok();
}

bool decode_answer(const json::value& v, TurnAnswer& a) {
    const auto* o = v.if_object();
    if (!o) return false;
    Fields f(*o);
    f.get("session_id", a.session_id);
    f.get("text", a.text);
    f.get("stop_reason", a.stop_reason);
    f.get("usage", a.usage);
    f.get("cost_usd", a.cost_usd);
    f.get("is_error", a.is_error);
    f.get_array("tool_calls", a.tool_calls, decode_tool_call);
    if (const auto* s = f.find("structured_output")) a.structured_output.emplace(*s, json::storage_ptr());
    f.get("cli_result", a.cli_result);
    return f.ok();
}

bool decode_process(const json::value& v, ProcessOutput& p) {
    const auto* o = v.if_object();
    if (!o) return false;
    Fields f(*o);
    f.get("stdout_data", p.stdout_data);
    f.get("stderr_data", p.stderr_data);
    f.get("returncode", p.returncode);
    return f.ok();
}

// The outcome's error; a non-ksid one becomes errc::internal, its text added to `detail`.
bool decode_error(const json::value& v, boost::system::error_code& ec, std::string& detail) {
    const auto* o = v.if_object();
    if (!o) return false;
    Fields f(*o);
    std::string category;
    int value = 0;
    std::string message;
    f.get("category", category);
    f.get("value", value);
    f.get("message", message);
    if (!f.ok() || category.empty()) return false;
    if (category == ksid_category().name()) {
        if (value < static_cast<int>(errc::queue_full) || value > static_cast<int>(errc::worker_lost))
            return false;
        ec = make_error_code(static_cast<errc>(value));
        return true;
    }
    ec = make_error_code(errc::internal);
    std::string what = category + " error " + std::to_string(value);
    if (!message.empty()) what += ": " + message;
    detail = detail.empty() ? std::move(what) : detail + " (" + what + ")";
    return true;
}

// Explicitly the error: an aggregate whose first member is an error_code (TurnOutcome) is constructible
// from one too.
template <class T>
result<T> malformed() {
    return result<T>(boost::system::in_place_error, make_error_code(errc::internal));
}

result<TurnRequest> request_from(const json::value& value) {
    const auto* o = value.if_object();
    if (!o) return malformed<TurnRequest>();
    Fields f(*o);
    TurnRequest r;
    f.get("prompt", r.prompt);
    f.get_array("images", r.images, decode_image);
    f.get("model", r.model);
    f.get("resume_session", r.resume_session);
    f.get("enable_tools", r.enable_tools);
    f.get("no_tools", r.no_tools);
    f.get("append_system_prompt", r.append_system_prompt);
    if (const auto* v = f.find("output")) {
        const auto* s = v->if_string();
        if (s && *s == "cli_json")
            r.output = TurnOutput::cli_json;
        else if (s && *s == "events")
            r.output = TurnOutput::events;
        else
            f.fail();
    }
    f.get("incremental", r.incremental);
    std::int64_t time_limit_ms = r.time_limit.count();
    f.get("time_limit_ms", time_limit_ms);
    r.time_limit = std::chrono::milliseconds(time_limit_ms);
    f.get("agent_id", r.agent_id);
    f.get("priority", r.priority);
    f.get("hops", r.hops);
    f.get("origin", r.origin);
    if (const auto* v = f.find("client_tools"); v && !v->is_null()) {
        std::vector<protocol::ClientTool> tools;
        f.get_array("client_tools", tools, decode_client_tool);
        r.client_tools = std::make_shared<const std::vector<protocol::ClientTool>>(std::move(tools));
    }
    f.get("client_tools_key", r.client_tools_key);
    f.get_array("tool_results", r.tool_results, decode_tool_result);
    f.get("tenant", r.tenant);
    f.get("transport", r.transport);
    f.get("request_id", r.request_id);
    f.get("admission", r.admission);
    f.get("json_schema", r.json_schema);
    f.get("replay_prompt", r.replay_prompt);
    f.get_array("replay_images", r.replay_images, decode_image);
    if (!f.ok()) return malformed<TurnRequest>();
    return r;
}

result<TurnEvent> event_from(const json::value& value) {
    const auto* o = value.if_object();
    if (!o) return malformed<TurnEvent>();
    Fields f(*o);
    std::string type;
    f.get("type", type);
    if (!f.ok()) return malformed<TurnEvent>();
    auto done = [&](auto event) -> result<TurnEvent> {
        if (!f.ok()) return malformed<TurnEvent>();
        return TurnEvent(std::move(event));
    };
    if (type == "started") {
        TurnStarted e;
        f.get("session_id", e.session_id);
        f.get("model", e.model);
        return done(std::move(e));
    }
    if (type == "text_delta") {
        TextDelta e;
        f.get("text", e.text);
        return done(std::move(e));
    }
    if (type == "assistant_text") {
        AssistantText e;
        f.get("text", e.text);
        f.get("already_streamed", e.already_streamed);
        return done(std::move(e));
    }
    if (type == "tool_use") {
        ToolUse e;
        f.get("id", e.id);
        f.get("name", e.name);
        f.get("input", e.input);
        return done(std::move(e));
    }
    if (type == "tool_result") {
        ToolResult e;
        f.get("tool_use_id", e.tool_use_id);
        f.get("content", e.content);
        f.get("is_error", e.is_error);
        return done(std::move(e));
    }
    if (type == "usage") {
        UsageUpdate e;
        f.get("usage", e.usage);
        return done(std::move(e));
    }
    if (type == "rate_limit") {
        RateLimitNotice e;
        f.get("info", e.info);
        return done(std::move(e));
    }
    return malformed<TurnEvent>();
}

result<TurnOutcome> outcome_from(const json::value& value) {
    const auto* o = value.if_object();
    if (!o) return malformed<TurnOutcome>();
    Fields f(*o);
    TurnOutcome out;
    if (const auto* t = f.find("type")) {
        const auto* s = t->if_string();
        if (!s || *s != "outcome") return malformed<TurnOutcome>();
    }
    f.get("detail", out.detail);
    if (const auto* e = f.find("error"); e && !e->is_null() && !decode_error(*e, out.error, out.detail))
        f.fail();
    f.get("upstream_status", out.upstream_status);
    f.get("spawn_errno", out.spawn_errno);
    f.get("retry_after_ms", out.retry_after_ms);
    f.get("started", out.started);
    f.get("interrupted", out.interrupted);
    if (const auto* a = f.find("answer"); a && !a->is_null() && !decode_answer(*a, out.answer.emplace()))
        f.fail();
    if (const auto* p = f.find("process"); p && !p->is_null() && !decode_process(*p, out.process.emplace()))
        f.fail();
    f.get("log_failed", out.log_failed);
    f.get("replayed_session", out.replayed_session);
    if (!f.ok()) return malformed<TurnOutcome>();
    return out;
}

// The decoders' last line: nothing escapes them (an allocation that fails, a bug).
template <class F>
auto no_throw(F f, const json::value& value) noexcept -> decltype(f(value)) {
    try {
        return f(value);
    } catch (...) {
        return decltype(f(value))(boost::system::in_place_error, make_error_code(errc::internal));
    }
}

} // namespace

boost::json::object turn_request_to_json(const TurnRequest& r) {
    json::object o;
    o["prompt"] = r.prompt;
    o["images"] = images_to_json(r.images);
    o["model"] = r.model;
    if (r.resume_session) o["resume_session"] = *r.resume_session;
    o["enable_tools"] = r.enable_tools;
    o["no_tools"] = r.no_tools;
    o["append_system_prompt"] = r.append_system_prompt;
    o["output"] = r.output == TurnOutput::events ? "events" : "cli_json";
    o["incremental"] = r.incremental;
    o["time_limit_ms"] = static_cast<std::int64_t>(r.time_limit.count());
    if (r.agent_id) o["agent_id"] = *r.agent_id;
    o["priority"] = r.priority;
    o["hops"] = r.hops;
    o["origin"] = r.origin;
    if (r.client_tools) {
        json::array tools;
        tools.reserve(r.client_tools->size());
        for (const auto& tool : *r.client_tools)
            tools.push_back(client_tool_to_json(tool));
        o["client_tools"] = std::move(tools);
    }
    o["client_tools_key"] = r.client_tools_key;
    json::array results;
    results.reserve(r.tool_results.size());
    for (const auto& result : r.tool_results)
        results.push_back(tool_result_to_json(result));
    o["tool_results"] = std::move(results);
    o["tenant"] = r.tenant;
    o["transport"] = r.transport;
    o["request_id"] = r.request_id;
    o["admission"] = r.admission;
    o["json_schema"] = r.json_schema;
    o["replay_prompt"] = r.replay_prompt;
    o["replay_images"] = images_to_json(r.replay_images);
    return o;
}

result<TurnRequest> turn_request_from_json(const boost::json::value& value) {
    return no_throw(request_from, value);
}

boost::json::object turn_event_to_json(const TurnEvent& event) {
    json::object o;
    struct Visitor {
        json::object& o;
        void operator()(const TurnStarted& e) const {
            o["type"] = "started";
            if (e.session_id) o["session_id"] = *e.session_id;
            o["model"] = e.model;
        }
        void operator()(const TextDelta& e) const {
            o["type"] = "text_delta";
            o["text"] = e.text;
        }
        void operator()(const AssistantText& e) const {
            o["type"] = "assistant_text";
            o["text"] = e.text;
            o["already_streamed"] = e.already_streamed;
        }
        void operator()(const ToolUse& e) const {
            o["type"] = "tool_use";
            o["id"] = e.id;
            o["name"] = e.name;
            o["input"] = e.input;
        }
        void operator()(const ToolResult& e) const {
            o["type"] = "tool_result";
            o["tool_use_id"] = e.tool_use_id;
            o["content"] = e.content;
            o["is_error"] = e.is_error;
        }
        void operator()(const UsageUpdate& e) const {
            o["type"] = "usage";
            o["usage"] = e.usage;
        }
        void operator()(const RateLimitNotice& e) const {
            o["type"] = "rate_limit";
            o["info"] = e.info;
        }
    };
    std::visit(Visitor{o}, event);
    return o;
}

result<TurnEvent> turn_event_from_json(const boost::json::value& value) {
    return no_throw(event_from, value);
}

boost::json::object turn_outcome_to_json(const TurnOutcome& outcome) {
    json::object o;
    o["type"] = "outcome";
    if (outcome.error) o["error"] = error_to_json(outcome.error);
    o["detail"] = outcome.detail;
    o["upstream_status"] = outcome.upstream_status;
    o["spawn_errno"] = outcome.spawn_errno;
    o["retry_after_ms"] = outcome.retry_after_ms;
    o["started"] = outcome.started;
    o["interrupted"] = outcome.interrupted;
    if (outcome.answer) o["answer"] = answer_to_json(*outcome.answer);
    if (outcome.process) o["process"] = process_to_json(*outcome.process);
    o["log_failed"] = outcome.log_failed;
    if (outcome.replayed_session) o["replayed_session"] = *outcome.replayed_session;
    return o;
}

result<TurnOutcome> turn_outcome_from_json(const boost::json::value& value) {
    return no_throw(outcome_from, value);
}

} // namespace ksid::daemon
