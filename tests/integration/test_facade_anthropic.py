"""The Anthropic Messages API on the facade (issue 16): the official @anthropic-ai/sdk as the client, the fake
and the real claude CLI behind it, raw HTTP for the exact SSE framing and error shapes."""
import json
import os
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import StubServerMixin  # noqa: E402
from ksid_harness import assert_disconnect_stops_the_run  # noqa: E402
from test_facade import FacadeCase  # noqa: E402  (a base class: it has no tests of its own)

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.join(HERE, "..", "..", "build", "tools", "node_modules", "@anthropic-ai", "sdk", "package.json")
HAVE_SDK = os.path.exists(SDK)
if not HAVE_SDK and os.environ.get("KSID_REQUIRE_REAL_CLAUDE"):
    raise RuntimeError("the Anthropic SDK is required but missing: run scripts/test-deps")
JSON = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}


def sse_events(body):
    """[(event name, data object)] of an SSE body."""
    out = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        out.append((name, data))
    return out


class AnthropicCase(FacadeCase):
    sdk_script = "anthropic_sdk_client.mjs"
    sdk_base_path = ""  # the Anthropic SDK adds /v1 itself

    def messages(self, content, stream=False, **fields):
        body = dict({"model": "sonnet", "max_tokens": 256, "stream": stream,
                     "messages": [{"role": "user", "content": content}]}, **fields)
        return self.http("POST", "/v1/messages?beta=true", body, JSON)


@unittest.skipUnless(HAVE_SDK, "@anthropic-ai/sdk not installed: run scripts/test-deps")
class WithAnthropicSdk(AnthropicCase):
    def test_create(self):
        r = self.sdk("plain")
        self.assertEqual((r["type"], r["role"], r["model"]), ("message", "assistant", "sonnet"))
        self.assertEqual(r["content"], [{"type": "text", "text": "ECHO: hello sdk"}])
        self.assertEqual((r["stop_reason"], r["stop_sequence"]), ("end_turn", None))
        self.assertRegex(r["id"], r"^msg_[0-9a-f]{24}$")
        self.assertEqual(r["usage"]["output_tokens"], 5)
        self.assertEqual(set(r["usage"]), {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
                                           "output_tokens"})
        self.assertEqual(r["sessionHeader"], r["session_id"])
        self.assertRegex(r["requestId"], r"^req_")
        with open(self.ksid.path("claude_logs", r["session_id"] + ".jsonl")) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(human["content"], "hello sdk")  # the prompt sent on stdin
        self.assertEqual(claude["type"], "claude")

    def test_stream_text_events_and_final_message(self):
        r = self.sdk("stream", extra={"body": {"system": "be brief"}})
        self.assertEqual(r["text"], "ECHO: stream sdk")
        self.assertEqual(r["final"]["content"], [{"type": "text", "text": "ECHO: stream sdk"}])
        self.assertEqual(r["final"]["stop_reason"], "end_turn")
        self.assertEqual(r["final"]["usage"]["output_tokens"], 5)
        self.assertEqual(r["events"][0], "message_start")
        self.assertEqual(r["events"][-2:], ["message_delta", "message_stop"])
        self.assertGreaterEqual(r["events"].count("content_block_delta"), 3)  # deltas, not one block

    def test_resume_with_the_session_header(self):
        r = self.sdk("resume")
        self.assertEqual(r["first"]["session_id"], r["second"]["session_id"])
        self.assertEqual(r["second"]["content"][0]["text"], "ECHO: second turn")  # only the new message is sent
        self.assertNotEqual(r["first"]["id"], r["second"]["id"])  # a message id per response

    def test_models_and_count_tokens(self):
        r = self.sdk("models")
        self.assertEqual([m["id"] for m in r["ids"]], ["sonnet", "opus", "haiku"])
        self.assertEqual(r["ids"][0]["type"], "model")
        self.assertEqual(r["ids"][0]["display_name"], "Claude Sonnet")
        self.assertRegex(r["ids"][0]["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(r["one"], "sonnet")
        self.assertEqual(self.sdk("count")["input_tokens"], 6)  # (17 + 5 bytes) / 4, rounded up

    def test_errors_are_the_sdks_typed_errors(self):
        r = self.sdk("error", extra={"body": {"tool_choice": {"type": "any"}, "tools": []}})
        self.assertEqual((r["error"], r["status"], r["type"]), ("BadRequestError", 400, "invalid_request_error"))
        self.assertIn("tool_choice.type", r["message"])
        self.assertRegex(r["requestId"], r"^req_")
        r = self.sdk("error", extra={"model": "gpt-4"})
        self.assertEqual((r["error"], r["status"], r["type"]), ("NotFoundError", 404, "not_found_error"))
        r = self.sdk("error", extra={"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]})
        self.assertEqual((r["error"], r["type"]), ("BadRequestError", "invalid_request_error"))
        self.assertIn("messages.0.content.0.source", r["message"])


@unittest.skipUnless(HAVE_SDK, "@anthropic-ai/sdk not installed: run scripts/test-deps")
class Auth(AnthropicCase):
    facade_env = {"KSID_API_KEYS": "secret-key-1,secret-key-2"}

    def test_x_api_key_and_bearer(self):
        r = self.sdk("error", api_key="wrong-key-123")
        self.assertEqual((r["error"], r["status"], r["type"]), ("AuthenticationError", 401, "authentication_error"))
        self.assertEqual(self.sdk("plain", api_key="secret-key-2")["content"][0]["text"], "ECHO: hello sdk")
        r = self.sdk("plain", api_key="secret-key-1", extra={"bearer": True})  # ANTHROPIC_AUTH_TOKEN style
        self.assertEqual(r["content"][0]["text"], "ECHO: hello sdk")
        status, _, body = self.http("POST", "/v1/messages", {"model": "sonnet"}, JSON)  # refused before the body
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["type"], "error")
        self.assertEqual(json.loads(body)["error"]["type"], "authentication_error")
        status, _, body = self.http("GET", "/v1/models", headers={"anthropic-version": "2023-06-01",
                                                                  "x-api-key": "secret-key-1"})
        self.assertEqual(status, 200)
        self.assertIn("has_more", json.loads(body))


@unittest.skipUnless(HAVE_SDK, "@anthropic-ai/sdk not installed: run scripts/test-deps")
class QueueFull(AnthropicCase):
    facade_env = {"KSID_MAX_CONCURRENT": "1", "KSID_MAX_PENDING": "0"}

    def test_queue_full_is_a_rate_limit_error_with_retry_after(self):
        blocker = threading.Thread(target=lambda: self.messages("FAKE:sleep=3000"))
        blocker.start()
        time.sleep(0.5)
        r = self.sdk("error")
        self.assertEqual((r["error"], r["status"], r["type"], r["retryAfter"]),
                         ("RateLimitError", 429, "rate_limit_error", "1"))
        blocker.join()


class RawHttp(AnthropicCase):
    facade_env = {"KSID_RUN_TIME_LIMIT": "2", "KSID_KILL_GRACE": "0.5"}

    def test_stream_framing(self):
        status, headers, body = self.messages("one two three", stream=True)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/event-stream")
        events = sse_events(body)
        names = [n for n, _ in events]
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[1], "content_block_start")
        self.assertEqual(names[-3:], ["content_block_stop", "message_delta", "message_stop"])
        self.assertEqual(set(names[2:-3]), {"content_block_delta"})
        for name, data in events:
            self.assertEqual(data["type"], name)  # the data's type always names its event
        start = events[0][1]["message"]
        self.assertEqual((start["role"], start["content"], start["stop_reason"]), ("assistant", [], None))
        self.assertEqual(start["session_id"], headers["X-Session-Id"])
        self.assertEqual(events[1][1]["content_block"], {"type": "text", "text": ""})
        text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        self.assertEqual(text, "ECHO: one two three")
        self.assertEqual({d["index"] for n, d in events if n.startswith("content_block")}, {0})
        self.assertEqual(events[-2][1]["delta"], {"stop_reason": "end_turn", "stop_sequence": None})

    def test_error_shapes(self):
        def error_of(status_body):
            status, _, body = status_body
            b = json.loads(body)
            self.assertEqual(b["type"], "error")
            return status, b["error"]["type"], b["error"]["message"]
        st, t, m = error_of(self.http("POST", "/v1/messages", b"{nope", JSON))
        self.assertEqual((st, t), (400, "invalid_request_error"))
        st, t, m = error_of(self.http("POST", "/v1/messages", {"model": "sonnet", "messages": [
            {"role": "user", "content": "x"}]}, JSON))
        self.assertEqual((st, t, m), (400, "invalid_request_error", "max_tokens: Field required"))
        st, t, _ = error_of(self.http("GET", "/v1/messages", headers=JSON))
        self.assertEqual((st, t), (405, "invalid_request_error"))
        st, t, _ = error_of(self.http("GET", "/v1/nothing", headers=JSON))  # unknown route, Anthropic client
        self.assertEqual((st, t), (404, "not_found_error"))
        st, t, _ = error_of(self.http("GET", "/v1/models/gpt-4", headers=JSON))
        self.assertEqual((st, t), (404, "not_found_error"))
        st, t, _ = error_of(self.messages("FAKE:hang"))  # the time limit
        self.assertEqual((st, t), (504, "timeout_error"))
        st, t, _ = error_of(self.messages("FAKE:crash"))
        self.assertEqual((st, t), (502, "api_error"))
        # Without anthropic-version the shared routes answer in OpenAI's shapes, as before.
        status, _, body = self.http("GET", "/v1/models")
        self.assertEqual(json.loads(body)["object"], "list")
        status, _, body = self.http("GET", "/v1/nothing")
        self.assertIn("message", json.loads(body)["error"])

    def test_error_after_the_stream_began_is_an_error_event(self):
        # 200 ms a word: the 2 s time limit stops it midway
        status, _, body = self.messages("FAKE:slowstream " + " ".join("w%d" % i for i in range(20)), stream=True)
        self.assertEqual(status, 200)
        events = sse_events(body)
        self.assertEqual(events[0][0], "message_start")
        self.assertIn("content_block_delta", [n for n, _ in events])
        self.assertEqual(events[-1][0], "error")
        self.assertEqual(events[-1][1]["error"]["type"], "timeout_error")
        self.assertEqual(self.ksid.processes_with_marker(), [])

    def test_disconnect_mid_stream_kills_the_child(self):
        for stream in (False, True):
            assert_disconnect_stops_the_run(self, self.ksid, self.port, "/v1/messages", {
                "model": "sonnet", "max_tokens": 9, "stream": stream,
                "messages": [{"role": "user", "content": "FAKE:sleep=20000"}]})

    def test_count_tokens_and_metrics(self):
        status, headers, body = self.http("POST", "/v1/messages/count_tokens", {
            "model": "sonnet", "messages": [{"role": "user", "content": "x" * 40}]}, JSON)
        self.assertEqual((status, json.loads(body)), (200, {"input_tokens": 10}))
        self.assertEqual(headers["x-ksid-token-count"], "estimate")
        status, _, body = self.http("POST", "/v1/messages/count_tokens", {"model": "nope", "messages": [
            {"role": "user", "content": "x"}]}, JSON)
        self.assertEqual((status, json.loads(body)["error"]["type"]), (404, "not_found_error"))
        self.messages("counted")
        _, _, metrics = self.http("GET", "/metrics")
        self.assertIn('route="/v1/messages",status="200"', metrics.decode())


class RealClaudeBehindTheMessagesRoute(StubServerMixin, AnthropicCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-messages-home-")
        self.facade_env = self.ksid_claude_env(self.home)
        super().setUp()

    @unittest.skipUnless(HAVE_SDK, "@anthropic-ai/sdk not installed: run scripts/test-deps")
    def test_create_stream_and_resume(self):
        r = self.sdk("plain", extra={"prompt": "Say hello"})
        self.assertEqual(r["content"], [{"type": "text", "text": "ECHO[1]: Say hello"}])
        self.assertGreater(r["usage"]["output_tokens"], 0)
        self.assertGreater(r["usage"]["input_tokens"], 0)
        s = self.sdk("stream", extra={"prompt": "Stream this"})
        self.assertEqual(s["text"], "ECHO[1]: Stream this")
        self.assertGreaterEqual(s["events"].count("content_block_delta"), 3)  # token deltas from the real CLI
        self.assertEqual(s["final"]["usage"]["output_tokens"], r["usage"]["output_tokens"])
        r = self.sdk("resume")
        self.assertEqual(r["second"]["content"][0]["text"], "ECHO[2]: second turn")
        self.assertEqual(r["first"]["session_id"], r["second"]["session_id"])

    def test_a_tool_the_cli_ran_is_not_passed_on_and_blocks_are_renumbered(self):
        self.ksid.stop()
        from ksid_harness import Ksid
        self.ksid = Ksid(env=dict(self.ksid_env, KSID_FACADE_ENABLE_TOOLS="true")).start()
        status, _, body = self.messages("STUB_TOOL:echo tool-ran", stream=True,
                                        metadata={"enable_tools": True})
        self.assertEqual(status, 200)
        events = sse_events(body)
        names = [n for n, _ in events]
        self.assertEqual(names.count("message_start"), 1)  # two API messages, one message to the client
        self.assertEqual(names.count("message_stop"), 1)
        blocks = [d for n, d in events if n == "content_block_start"]
        self.assertEqual([b["content_block"]["type"] for b in blocks], ["text"] * len(blocks))  # no tool_use
        self.assertEqual([b["index"] for b in blocks], list(range(len(blocks))))
        text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        self.assertIn("TOOL_RESULT[1]: tool-ran", text)


if __name__ == "__main__":
    unittest.main()
