"""API shim mode with `api_shim.provider: anthropic` (issue 16): SPAWN and facade turns go to an upstream
Anthropic Messages API (`POST {base}/v1/messages`) instead of spawning claude. The upstream is the loopback
Anthropic stub (anthropic_stub.py), playing either a stateless API or a ksid facade that returns
X-Session-Id; no claude is installed for the shim-mode ksid."""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import AnthropicStub  # noqa: E402
from ksid_harness import free_port, Ksid, KsidTestCase  # noqa: E402
from test_api_shim import NO_CLAUDE, shim_config, spawn  # noqa: E402
from upstream_stub import SESSION, make_certificate  # noqa: E402

KEY = "anthropic-secret-key"


def anthropic_config(base_url, **overrides):
    settings = {"provider": "anthropic", "api_key": KEY, "model_map": "{sonnet: claude-test}", "timeout": 10}
    settings.update(overrides)
    return shim_config(base_url, **settings)


class AnthropicCase(KsidTestCase):
    """ksid (provider anthropic, facade on) in front of one stub per class that answers like a ksid facade."""

    shim_overrides = {}
    base_path = ""

    @classmethod
    def setUpClass(cls):
        cls.stub = AnthropicStub(session_id=SESSION).start()

    @classmethod
    def tearDownClass(cls):
        cls.stub.stop()

    def setUp(self):
        self.stub.clear()
        self.stub.session_id = SESSION
        self.port = free_port()
        self.ksid_config = anthropic_config(self.stub.base_url + self.base_path, **self.shim_overrides)
        self.ksid_env = dict(NO_CLAUDE, KSID_FACADE_ENABLED="true", KSID_FACADE_PORT=str(self.port))
        super().setUp()

    def messages(self):
        return [r for r in self.stub.requests if r["path"].startswith("/v1/messages")]

    def chat(self, content, stream=False, system=None):
        """POST /v1/chat/completions to ksid's facade: (status, body bytes)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/chat/completions", method="POST",
            data=json.dumps({"model": "sonnet", "stream": stream, "messages": messages}).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


class Spawn(AnthropicCase):
    def test_sync_spawn_request_shape_and_cli_like_reply(self):
        r = spawn(self.ksid, "hi there", agent_id="agent-7", enable_tools=False)
        self.assertEqual(r["status"], "success", r)
        res = r["result"]
        self.assertEqual((res["type"], res["subtype"], res["is_error"], res["result"]),
                         ("result", "success", False, "ECHO[1]: hi there"))
        self.assertEqual(res["stop_reason"], "end_turn")
        self.assertEqual((res["session_id"], res["sessionId"]), (SESSION, SESSION))
        self.assertEqual((res["model"], res["agent_id"]), ("sonnet", "agent-7"))
        self.assertRegex(res["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(res["usage"], {"input_tokens": 2, "output_tokens": 3, "cache_creation_input_tokens": 0,
                                        "cache_read_input_tokens": 0})
        [req] = self.messages()
        self.assertEqual(req["path"], "/v1/messages")  # base without /v1: /v1 added once
        h = req["headers"]
        self.assertEqual(h["x-api-key"], KEY)
        self.assertEqual(h["anthropic-version"], "2023-06-01")
        self.assertEqual(h["content-type"], "application/json")
        self.assertNotIn("authorization", h)
        self.assertNotIn("x-session-id", h)
        self.assertRegex(h["x-ksid-hop"], r"^[0-9a-f]{16}$")
        self.assertEqual(req["body"], {
            "model": "claude-test", "max_tokens": 8192, "stream": False,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
            "metadata": {"user_id": "agent-7", "agent_id": "agent-7", "enable_tools": "false", "priority": "5"}})
        # the same session logging as direct mode
        with open(self.ksid.path("claude_logs", SESSION + ".jsonl")) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(human["content"], "hi there")
        self.assertEqual((claude["type"], claude["result"]), ("claude", "ECHO[1]: hi there"))

        # A resumed turn names its session in X-Session-Id and the body; the answer's header is the session.
        other = "5d0c2a8e-6c37-4a43-9d8e-3b8d5d1e0f22"
        r = spawn(self.ksid, "again", session_id=other)
        self.assertEqual(r["result"]["session_id"], other)
        req = self.messages()[-1]
        self.assertEqual(req["headers"]["x-session-id"], other)
        self.assertEqual(req["body"]["session_id"], other)
        self.assertEqual(req["body"]["metadata"]["session_id"], other)
        self.assertEqual(req["body"]["metadata"]["enable_tools"], "true")

    def test_stateless_upstream_has_no_session(self):
        self.stub.session_id = None  # api.anthropic.com: no X-Session-Id
        res = spawn(self.ksid, "no session")["result"]
        self.assertEqual(res["result"], "ECHO[1]: no session")
        self.assertNotIn("session_id", res)
        self.assertIsNone(res["sessionId"])

    def test_async_spawn_does_not_need_claude(self):
        r = self.ksid.request({"command": "SPAWN", "version": "2.0",
                               "parameters": {"mode": "async", "prompt": "in the background", "agent_id": "a1"}})
        self.assertEqual(r["status"], "success", r)
        log = self.ksid.path("claude_logs", SESSION + ".jsonl")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.exists(log):
            time.sleep(0.05)
        with open(log) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(human["agent_id"], "a1")
        self.assertEqual(claude["result"], "ECHO[1]: in the background")

    def test_facade_plain_and_streamed(self):
        status, body = self.chat("hello facade", system="Answer in one word.")
        self.assertEqual(status, 200, body)
        completion = json.loads(body)
        self.assertEqual(completion["choices"][0]["message"]["content"], "ECHO[1]: hello facade")
        up = self.messages()[-1]["body"]
        self.assertFalse(up["stream"])
        self.assertEqual(up["system"], "Answer in one word.")  # the facade's system message
        self.assertEqual(up["messages"], [{"role": "user", "content": [{"type": "text", "text": "hello facade"}]}])

        status, body = self.chat("stream me three words", stream=True)
        self.assertEqual(status, 200, body)
        content, chunks = "", 0
        for line in body.splitlines():
            if line.startswith(b"data: {"):
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    content += chunk["choices"][0]["delta"]["content"]
                    chunks += 1
        self.assertEqual(content, "ECHO[1]: stream me three words")
        self.assertGreaterEqual(chunks, 5)  # one per word from the stub, passed on as they came
        self.assertTrue(body.rstrip().endswith(b"data: [DONE]"))
        self.assertTrue(self.messages()[-1]["body"]["stream"])
        self.assertEqual(self.messages()[-1]["headers"]["accept"], "text/event-stream")


class Failures(AnthropicCase):
    shim_overrides = {"retry_backoff": "0.01"}

    def test_529_and_429_are_retried_then_succeed(self):
        r = spawn(self.ksid, "STUB_FLAKY:529:2 overloaded twice")
        self.assertEqual(r["result"]["result"], "ECHO[1]: STUB_FLAKY:529:2 overloaded twice", r)
        self.assertEqual(self.stub.statuses, [529, 529, 200])
        self.stub.clear()
        t0 = time.monotonic()
        r = spawn(self.ksid, "STUB_FLAKY:429:1 STUB_RETRY_AFTER rate limited once")
        self.assertGreaterEqual(time.monotonic() - t0, 0.95)  # retry-after: 1
        self.assertEqual(r["result"]["result"], "ECHO[1]: STUB_FLAKY:429:1 STUB_RETRY_AFTER rate limited once")
        self.assertEqual(self.stub.statuses, [429, 200])
        # streamed through the facade too
        self.stub.clear()
        status, body = self.chat("STUB_FLAKY:529:1 streamed", stream=True)
        self.assertEqual(status, 200, body)
        self.assertIn(b"streamed", body)
        self.assertEqual(self.stub.statuses, [529, 200])

    def test_529_until_the_retries_run_out(self):
        r = spawn(self.ksid, "STUB_FLAKY:529:10 always")
        self.assertEqual(r["result"]["error"], "API shim: the upstream answered 529: stub: flaky 529")
        self.assertEqual(r["result"]["upstream_status"], 529)
        self.assertEqual(self.stub.statuses, [529] * 4)  # 1 + retry_attempts (3)

    def test_400_is_passed_through_not_retried(self):
        r = spawn(self.ksid, "STUB_ERROR:400")
        self.assertEqual(r["result"]["error"],
                         "API shim: the upstream answered 400: stub: error 400 requested by the prompt")
        self.assertEqual(r["result"]["upstream_status"], 400)
        self.assertEqual(self.stub.statuses, [400])
        for stream in (False, True):
            status, body = self.chat("STUB_ERROR:400", stream=stream)
            self.assertEqual(status, 400, body)
            err = json.loads(body)["error"]
            self.assertEqual(err["type"], "invalid_request_error")
            self.assertIn("stub: error 400 requested by the prompt", err["message"])
        self.assertEqual(self.stub.statuses, [400] * 3)

    def test_reset_mid_response_is_reported_not_retried(self):
        r = spawn(self.ksid, "STUB_RESET now")
        self.assertIn("not retried: the request may have run", r["result"]["error"])
        self.assertEqual(self.stub.statuses, [200])
        status, body = self.chat("STUB_RESET mid stream", stream=True)
        self.assertEqual(status, 200)  # the stream had begun: the failure is its last event
        self.assertIn(b"ECHO[1]:", body)
        self.assertIn(b'data: {"error":', body)
        self.assertIn(b"not retried: the request may have run", body)
        self.assertNotIn(b"mid stream", body)  # the rest of the answer never came
        self.assertEqual(self.stub.statuses, [200, 200])

    def test_unknown_provider_stops_the_start(self):
        k = Ksid(config=shim_config(self.stub.base_url, provider="gemini"))
        try:
            k.start(wait=False)
            self.assertEqual(k.wait(10), 1)
            err = k.stderr()
            self.assertIn("api_shim.provider", err)
            self.assertIn("test-config.yaml:", err)
            self.assertIn("expected openai or anthropic, got 'gemini'", err)
        finally:
            k.cleanup()


class BaseWithV1AndNoMetadata(AnthropicCase):
    """A base URL that ends in /v1 is not doubled; send_metadata false sends only what Anthropic accepts."""

    base_path = "/v1"
    shim_overrides = {"send_metadata": "false", "max_tokens": 256}

    def test_only_anthropic_fields(self):
        res = spawn(self.ksid, "plain", agent_id="agent-9", session_id=SESSION)["result"]
        self.assertEqual(res["result"], "ECHO[1]: plain")
        [req] = self.messages()
        self.assertEqual(req["path"], "/v1/messages")
        self.assertNotIn("x-session-id", req["headers"])
        self.assertEqual(req["body"], {
            "model": "claude-test", "max_tokens": 256, "stream": False, "metadata": {"user_id": "agent-9"},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "plain"}]}]})


class ChainToKsid(KsidTestCase):
    """A (shim, provider anthropic, no claude) → B (a ksid facade's /v1/messages, the fake CLI)."""

    def setUp(self):
        self.b_port = free_port()
        self.b = Ksid(env={"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.b_port),
                           "KSID_FACADE_ENABLE_TOOLS": "true"}).start()
        self.ksid_config = shim_config(f"http://127.0.0.1:{self.b_port}", provider="anthropic")
        self.a_port = free_port()
        self.ksid_env = dict(NO_CLAUDE, KSID_FACADE_ENABLED="true", KSID_FACADE_PORT=str(self.a_port))
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.assertEqual(self.b.stop(), 0)
            self.assert_no_sanitizer_report(self.b)
            self.b.cleanup()

    def test_same_reply_and_the_session_continues(self):
        direct = spawn(self.b, "Say hello")["result"]
        via = spawn(self.ksid, "Say hello")["result"]
        for key in ("type", "subtype", "is_error", "result"):
            self.assertEqual(direct[key], via[key], key)
        self.assertEqual(via["sessionId"], via["session_id"])
        second = spawn(self.ksid, "again", session_id=via["session_id"])["result"]
        self.assertEqual(second["session_id"], via["session_id"])  # the fake keeps a resumed id
        with open(self.b.path("claude_logs", via["session_id"] + ".jsonl")) as f:
            self.assertEqual(len(f.read().splitlines()), 4)

    def test_facade_stream_through_the_chain(self):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.a_port}/v1/chat/completions", method="POST",
            data=json.dumps({"model": "sonnet", "stream": True, "messages": [
                {"role": "user", "content": "FAKE:slowstream through messages"}]}).encode(),
            headers={"Content-Type": "application/json"})
        arrivals, content = [], ""
        with urllib.request.urlopen(req, timeout=30) as r:
            for line in r:
                if line.startswith(b"data: {"):
                    chunk = json.loads(line[6:])
                    if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                        content += chunk["choices"][0]["delta"]["content"]
                        arrivals.append(time.monotonic())
        self.assertIn("through messages", content)
        self.assertGreaterEqual(len(arrivals), 3)
        self.assertGreater(arrivals[-1] - arrivals[0], 0.1)  # chunk by chunk, not buffered


    def test_messages_route_of_a_through_the_chain(self):
        """Both of A's routes run on the Anthropic upstream: here A's own /v1/messages, streamed."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.a_port}/v1/messages", method="POST",
            data=json.dumps({"model": "sonnet", "max_tokens": 64, "stream": True, "messages": [
                {"role": "user", "content": "FAKE:slowstream both routes"}]}).encode(),
            headers={"Content-Type": "application/json", "anthropic-version": "2023-06-01"})
        names, text = [], ""
        with urllib.request.urlopen(req, timeout=30) as r:
            for line in r:
                if line.startswith(b"event: "):
                    names.append(line[7:].strip().decode())
                elif line.startswith(b"data: {"):
                    d = json.loads(line[6:])
                    if d["type"] == "content_block_delta":
                        text += d["delta"]["text"]
                    if d["type"] == "message_delta":
                        self.assertNotIn("ksid_result", d)  # A's client is no ksid
        self.assertIn("both routes", text)
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[-1], "message_stop")


class Tls(unittest.TestCase):
    """An https Anthropic upstream: trusted through api_shim.ca_file, rejected without it."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ksid-tls-")
        cls.cert = make_certificate(cls.dir, "localhost", ["localhost", "127.0.0.1"])
        cls.stub = AnthropicStub(host="127.0.0.1", tls=cls.cert).start()

    @classmethod
    def tearDownClass(cls):
        cls.stub.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_case(self, ca_file):
        extra = {"ca_file": ca_file} if ca_file else {}
        k = Ksid(config=anthropic_config(f"https://localhost:{self.stub.port}", retry_attempts=0, **extra),
                 env=dict(NO_CLAUDE)).start()
        try:
            return spawn(k, "over tls")["result"]
        finally:
            self.assertEqual(k.stop(), 0)
            k.cleanup()

    def test_trusted_only_when_configured(self):
        r = self.run_case(None)
        self.assertIn("TLS handshake with localhost:", r["error"])
        r = self.run_case(self.cert[0])
        self.assertEqual(r.get("result"), "ECHO[1]: over tls", r)
        self.assertEqual(self.stub.message_requests()[-1]["messages"][0]["content"][0]["text"], "over tls")


if __name__ == "__main__":
    unittest.main()
