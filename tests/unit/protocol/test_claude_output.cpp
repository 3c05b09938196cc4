#include "protocol/claude_output.hpp"
#include "protocol/python_json.hpp"

#include <boost/json/parse.hpp>
#include "tests/unit/fixtures.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace ksid::protocol;
namespace json = boost::json;
using Kind = ClaudeJsonOutput::Kind;

namespace {
std::string fixture(const char* name) { return read_cli_fixture(name); }
} // namespace

TEST_CASE("recorded CLI output: object with session_id") {
    auto text = fixture("json-plain.json");
    auto p = parse_claude_json_output(text);
    REQUIRE(p.kind == Kind::object);
    REQUIRE(p.session_id);
    CHECK(*p.session_id == "ca6b0aeb-fb74-4f74-8fd7-8865ff6e4c77");
    auto r = sync_spawn_result(p, "", 0, text);
    CHECK(r.at("result").as_string() == "ECHO[1]: Say hello");
    CHECK_FALSE(r.contains("stderr"));
    auto resumed = parse_claude_json_output(fixture("json-resumed.json"));
    REQUIRE(resumed.session_id);
}

// Spec §6.4, one check per row.
TEST_CASE("sync result: object output, whatever the exit status, gets stderr appended") {
    auto p = parse_claude_json_output("{\"result\": \"hi\", \"sessionId\": \"old-style\"}\n");
    REQUIRE(p.session_id);
    CHECK(*p.session_id == "old-style");
    auto r = sync_spawn_result(p, "noise\n", 2, "");
    CHECK(to_python_json(r) == "{\"result\": \"hi\", \"sessionId\": \"old-style\", \"stderr\": \"noise\\n\"}");
}

TEST_CASE("sync result: empty stdout") {
    auto p = parse_claude_json_output("");
    CHECK(p.kind == Kind::empty);
    CHECK(to_python_json(sync_spawn_result(p, "", 1, "")) == R"({"error": "No output from claude", "returncode": 1})");
    CHECK(to_python_json(sync_spawn_result(p, "Error: x\n", 1, "")) ==
          R"({"error": "No output from claude", "returncode": 1, "stderr": "Error: x\n"})");
}

TEST_CASE("sync result: not JSON") {
    const std::string out = "this is not json\n";
    auto p = parse_claude_json_output(out);
    CHECK(p.kind == Kind::invalid);
    auto r = sync_spawn_result(p, "", 0, out);
    CHECK(r.at("error").as_string() == "Invalid JSON from claude: Expecting value: line 1 column 1 (char 0)");
    CHECK(r.at("returncode").as_int64() == 0);
    CHECK(r.at("raw_stdout").as_string() == out);
    const std::string big(5000, 'x');
    CHECK(sync_spawn_result(parse_claude_json_output(big), "", 0, big).at("raw_stdout").as_string().size() == 1000);
}

TEST_CASE("sync result: JSON that is not an object, and bad UTF-8") {
    auto p = parse_claude_json_output("[1, 2]");
    CHECK(p.kind == Kind::non_object);
    CHECK(to_python_json(sync_spawn_result(p, "", 0, "")) ==
          R"({"error": "AttributeError: 'list' object has no attribute 'get'", "returncode": -1})");
    p = parse_claude_json_output("\xff\xfe{}");
    CHECK(p.kind == Kind::bad_utf8);
    CHECK(sync_spawn_result(p, "", 0, "").at("error").as_string() ==
          "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte");
}

TEST_CASE("session ids that are not valid never name a file") {
    auto p = parse_claude_json_output(R"({"session_id": "../../etc/passwd"})");
    CHECK_FALSE(p.session_id);
    CHECK(p.session_id_rejected);
    p = parse_claude_json_output(R"({"session_id": 42})");
    CHECK_FALSE(p.session_id);
    p = parse_claude_json_output(R"({"result": "no id"})");
    CHECK_FALSE(p.session_id);
    CHECK_FALSE(p.session_id_rejected);
}

TEST_CASE("log lines in the legacy key order") {
    auto human = human_log_line("T1", "Hi there");
    CHECK(to_python_json(human) == R"({"timestamp": "T1", "type": "human", "content": "Hi there"})");
    json::value pid("af6ecd24"), agent("A1");
    CHECK(to_python_json(human_log_line("T1", "x", &pid, &agent)) ==
          R"({"timestamp": "T1", "type": "human", "content": "x", "process_id": "af6ecd24", "agent_id": "A1"})");
    auto out = json::parse(R"({"type": "result", "subtype": "success", "result": "Hello", "session_id": "s"})").as_object();
    CHECK(to_python_json(claude_log_line(out, "T2")) ==
          R"({"type": "claude", "subtype": "success", "result": "Hello", "session_id": "s", "timestamp": "T2"})");
    auto no_type = json::parse(R"({"result": "Hello"})").as_object();
    CHECK(to_python_json(claude_log_line(no_type, "T2")) == R"({"result": "Hello", "timestamp": "T2", "type": "claude"})");
}
