"""API shim mode (issue 8): SPAWN and facade requests go to an upstream OpenAI-compatible API instead of
spawning claude. A scriptable upstream for the faults; two real ksid processes (A in shim mode without
claude, B's facade in front of the fake and the real CLI) for the chain."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import StubServerMixin, claude_bin  # noqa: E402
from ksid_harness import free_port, Ksid, KsidTestCase  # noqa: E402
from upstream_stub import SESSION, UpstreamStub, completion, make_certificate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HAVE_SDK = os.path.exists(os.path.join(HERE, "..", "..", "build", "tools", "node_modules", "openai", "package.json"))
HAVE_CLAUDE = os.path.exists(claude_bin())
NO_CLAUDE = {"KSID_CLAUDE_COMMAND": "/nonexistent/claude"}


def spawn(k, prompt, **extra):
    return k.request(dict({"command": "SPAWN", "version": "2.0",
                           "parameters": dict({"mode": "sync", "prompt": prompt}, **extra)}), timeout=60)


def shim_config(base_url, **overrides):
    shim = {"enabled": "true", "base_url": base_url, "retry_backoff": "0.01", "fallback_to_direct": "false"}
    shim.update({k: str(v) for k, v in overrides.items()})
    lines = ["api_shim:"] + [f"  {k}: {v}" for k, v in shim.items()]
    return "\n".join(lines) + "\n"


class UpstreamCase(KsidTestCase):
    """ksid in shim mode against a scriptable upstream (one per class)."""

    shim_overrides = {}

    @classmethod
    def setUpClass(cls):
        cls.up = UpstreamStub().start()

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()

    def setUp(self):
        self.ksid_config = shim_config(self.up.base_url(), api_key="upstream-secret-key",
                                       model_map="{sonnet: gpt-test}", timeout=2, **self.shim_overrides)
        self.ksid_env = dict(NO_CLAUDE)
        self.up.script()
        super().setUp()


class FaultUpstream(UpstreamCase):
    """What the shim sends, and every failure it must handle."""

    def test_request_shape_and_cli_like_reply(self):
        self.up.script(("json", 200, completion("Hello from upstream", "stop")))
        r = spawn(self.ksid, "hi there", agent_id="agent-7", enable_tools=False)
        self.assertEqual(r["status"], "success", r)
        res = r["result"]
        self.assertEqual((res["type"], res["subtype"], res["is_error"], res["result"]),
                         ("result", "success", False, "Hello from upstream"))
        self.assertEqual(res["session_id"], SESSION)
        self.assertEqual(res["sessionId"], SESSION)
        self.assertEqual((res["model"], res["agent_id"]), ("sonnet", "agent-7"))
        self.assertRegex(res["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(res["usage"]["input_tokens"], 7)
        self.assertEqual(res["usage"]["output_tokens"], 2)
        [req] = self.up.requests
        self.assertEqual(req["path"], "/v1/chat/completions")
        self.assertEqual(req["headers"]["authorization"], "Bearer upstream-secret-key")
        self.assertRegex(req["headers"]["x-ksid-hop"], r"^[0-9a-f]{16}$")
        body = req["body"]
        self.assertEqual(body["model"], "gpt-test")  # api_shim.model_map
        self.assertEqual(body["messages"], [{"role": "user", "content": "hi there"}])
        self.assertFalse(body["stream"])
        self.assertEqual(body["metadata"], {"agent_id": "agent-7", "enable_tools": "false", "priority": "5"})
        # the same session logging as direct mode
        with open(self.ksid.path("claude_logs", SESSION + ".jsonl")) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(human["content"], "hi there")
        self.assertEqual((claude["type"], claude["result"]), ("claude", "Hello from upstream"))
        with open(self.ksid.path("sockets", "last_session_id")) as f:
            self.assertEqual(f.read(), SESSION)
        # a resumed turn sends the session as metadata
        r = spawn(self.ksid, "again", session_id=SESSION)
        self.assertEqual(self.up.requests[-1]["body"]["metadata"]["session_id"], SESSION)
        self.assertEqual(self.up.requests[-1]["body"]["metadata"]["enable_tools"], "true")

    def test_429_with_retry_after_is_retried_after_the_delay(self):
        self.up.script(("json", 429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}),
                       ("json", 200, completion("after 429")))
        t0 = time.monotonic()
        r = spawn(self.ksid, "x")
        self.assertGreaterEqual(time.monotonic() - t0, 0.95)
        self.assertEqual(r["result"]["result"], "after 429")
        self.assertEqual(len(self.up.requests), 2)

    def test_503_then_success_is_retried(self):
        self.up.script(("json", 503, {"error": {"message": "busy"}}), ("json", 503, {"error": {"message": "busy"}}),
                       ("json", 200, completion("third time")))
        r = spawn(self.ksid, "x")
        self.assertEqual(r["result"]["result"], "third time")
        self.assertEqual(len(self.up.requests), 3)

    def test_retries_stop_after_retry_attempts(self):
        self.up.script(*[("json", 503, {"error": {"message": "busy"}})] * 10)
        r = spawn(self.ksid, "x")
        self.assertIn("API shim: the upstream answered 503: busy", r["result"]["error"])
        self.assertEqual(r["result"]["upstream_status"], 503)
        self.assertEqual(len(self.up.requests), 4)  # 1 + retry_attempts (3)

    def test_500_502_504_are_never_retried(self):
        for status in (500, 502, 504):
            self.up.script(("json", status, {"error": {"message": f"boom {status}"}}), ("json", 200, completion()))
            r = spawn(self.ksid, "x")
            self.assertEqual(r["result"]["error"], f"API shim: the upstream answered {status}: boom {status}")
            self.assertEqual(len(self.up.requests), 1, status)

    def test_reset_mid_body_is_reported_not_retried(self):
        self.up.script(("reset",), ("json", 200, completion()))
        r = spawn(self.ksid, "x")
        self.assertIn("not retried: the request may have run", r["result"]["error"])
        self.assertEqual(len(self.up.requests), 1)

    def test_slow_upstream_is_cut_at_api_shim_timeout(self):
        self.up.script(("slow", 4))
        t0 = time.monotonic()
        r = spawn(self.ksid, "x")
        self.assertLess(time.monotonic() - t0, 3.5)
        self.assertEqual(r["result"]["error"], "The upstream API did not answer within 2 s (api_shim.timeout)")
        self.assertEqual(len(self.up.requests), 1)

    def test_invalid_json_and_non_completions(self):
        self.up.script(("raw", 200, b"this is not json"))
        r = spawn(self.ksid, "x")
        self.assertIn("API shim: the upstream's response is not JSON", r["result"]["error"])
        self.up.script(("json", 200, {"object": "list"}))
        r = spawn(self.ksid, "x")
        self.assertIn("has no choices", r["result"]["error"])
        self.up.script(("json", 400, {"error": {"message": "model gpt-test does not exist"}}))
        r = spawn(self.ksid, "x")
        self.assertEqual(r["result"]["error"], "API shim: the upstream answered 400: model gpt-test does not exist")

    def test_async_spawn_does_not_need_claude(self):
        r = self.ksid.request({"command": "SPAWN", "version": "2.0",
                               "parameters": {"mode": "async", "prompt": "x", "agent_id": "a1"}})
        self.assertEqual(r["status"], "success", r)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.exists(self.ksid.path("claude_logs", SESSION + ".jsonl")):
            time.sleep(0.05)
        with open(self.ksid.path("claude_logs", SESSION + ".jsonl")) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(human["agent_id"], "a1")
        self.assertEqual(claude["result"], "upstream answer")


class HostileUpstream(UpstreamCase):
    """An upstream that sends too much: the shim's limits hold (queue.max_output_bytes, bounded buffers)."""

    def setUp(self):
        super().setUp()
        self.ksid.stop()
        self.ksid.cleanup()
        self.port = free_port()
        self.ksid = Ksid(config=self.ksid_config, env=dict(NO_CLAUDE, KSID_MAX_OUTPUT_BYTES="64KiB",
                                                           KSID_FACADE_ENABLED="true",
                                                           KSID_FACADE_PORT=str(self.port))).start()

    def test_too_big_answers_are_cut(self):
        self.up.script(("json", 200, completion("x" * 200000)))
        r = spawn(self.ksid, "x")
        self.assertIn("exceeded", r["result"]["error"])
        # SSE whose translation is bigger than the raw bytes: many one-character deltas
        chunks = ['{"choices":[{"delta":{"content":"x"}}]}'] * 3000 + ["[DONE]"]
        self.up.script(("sse", chunks))
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/chat/completions", method="POST",
            data=json.dumps({"model": "sonnet", "stream": True, "messages": [{"role": "user", "content": "x"}]}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        self.assertIn(b"more output than allowed", body)
        self.assertLess(len(body), 200 * 1024)

    def test_endless_chunk_header_and_headers(self):
        rss0 = self.rss()
        self.up.script(("flood", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;", 32 << 20))
        r = spawn(self.ksid, "x")
        self.assertIn("API shim:", r["result"]["error"])
        self.up.script(("flood", b"HTTP/1.1 200 OK\r\nX-Long: ", 32 << 20))
        r = spawn(self.ksid, "x")
        self.assertIn("API shim:", r["result"]["error"])
        self.assertLess(self.rss() - rss0, 16 * 1024)  # kB: nowhere near the 32 MiB sent
        self.assertEqual(self.health()["status"], "success")

    def rss(self):
        with open(f"/proc/{self.ksid.proc.pid}/status") as f:
            return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


class RefusedUpstream(KsidTestCase):
    def setUp(self):
        self.ksid_config = shim_config(f"http://127.0.0.1:{free_port()}/v1")
        self.ksid_env = dict(NO_CLAUDE)
        super().setUp()

    def test_refused_connection_is_retried_then_reported(self):
        r = spawn(self.ksid, "x")
        self.assertIn("API shim: cannot connect to 127.0.0.1:", r["result"]["error"])
        self.assertIn("Connection refused", r["result"]["error"])
        with open(self.ksid.path("logs", "daemon.log")) as f:
            log = f.read()
        self.assertIn("retry 3 of 3", log)


class FallbackToDirect(KsidTestCase):
    def setUp(self):
        self.ksid_config = shim_config(f"http://127.0.0.1:{free_port()}/v1", fallback_to_direct="true",
                                       retry_attempts=1)
        super().setUp()  # the fake claude is on PATH

    def test_unreachable_upstream_falls_back_to_the_cli(self):
        r = spawn(self.ksid, "fall back please")
        self.assertEqual(r["result"]["result"], "ECHO: fall back please")
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertIn("falling back to running claude directly", f.read())


class FallbackWithoutClaude(KsidTestCase):
    def setUp(self):
        self.ksid_config = shim_config(f"http://127.0.0.1:{free_port()}/v1", fallback_to_direct="true",
                                       retry_attempts=0)
        self.ksid_env = dict(NO_CLAUDE)
        super().setUp()

    def test_both_failures_are_reported(self):
        r = spawn(self.ksid, "x")
        self.assertIn("cannot connect", r["result"]["error"])
        self.assertIn("the fallback to direct spawn failed too: claude is not installed", r["result"]["error"])


class Tls(unittest.TestCase):
    """https upstreams: the chain and the host name are verified; a self-signed certificate is accepted only
    when configured (api_shim.ca_file), and never for another host."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ksid-tls-")
        cls.good = make_certificate(cls.dir, "localhost", ["localhost", "127.0.0.1"])
        cls.wrong = make_certificate(cls.dir, "wrong", ["wrong.example"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_case(self, cert, host, ca_file):
        up = UpstreamStub(tls=cert).start()
        extra = {"ca_file": ca_file} if ca_file else {}
        k = Ksid(config=shim_config(up.base_url("https", host), retry_attempts=0, **extra), env=dict(NO_CLAUDE)).start()
        try:
            return spawn(k, "over tls")["result"], len(up.requests)
        finally:
            self.assertEqual(k.stop(), 0)
            k.cleanup()
            up.stop()

    def test_self_signed_rejected_unless_configured(self):
        r, n = self.run_case(self.good, "localhost", None)
        self.assertIn("TLS handshake with localhost:", r["error"])
        self.assertIn("certificate", r["error"])
        self.assertEqual(n, 0)
        r, n = self.run_case(self.good, "localhost", self.good[0])
        self.assertEqual(r.get("result"), "upstream answer", r)
        r, n = self.run_case(self.good, "127.0.0.1", self.good[0])  # an IP address in the certificate
        self.assertEqual(r.get("result"), "upstream answer", r)

    def test_wrong_host_rejected_even_when_trusted(self):
        r, n = self.run_case(self.wrong, "localhost", self.wrong[0])
        self.assertIn("TLS handshake", r["error"])
        self.assertEqual(n, 0)

    def test_unreadable_ca_file_stops_the_start(self):
        k = Ksid(config=shim_config("https://localhost:1/v1", ca_file="/nonexistent/ca.pem"))
        try:
            k.start(wait=False)
            self.assertEqual(k.wait(10), 1)
            with open(k.path("logs", "daemon.log")) as f:
                self.assertIn("cannot load the TLS trust store", f.read())
        finally:
            k.cleanup()


class Chain(KsidTestCase):
    """A (shim, no claude) → B (facade, the fake CLI). B's facade allows tools: it is a worker for A."""

    def setUp(self):
        self.b_port = free_port()
        self.b = Ksid(env={"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.b_port),
                           "KSID_FACADE_ENABLE_TOOLS": "true"}).start()
        self.a_port = free_port()
        self.ksid_config = shim_config(f"http://127.0.0.1:{self.b_port}/v1")
        self.ksid_env = dict(NO_CLAUDE, KSID_FACADE_ENABLED="true", KSID_FACADE_PORT=str(self.a_port),
                             KSID_FACADE_ENABLE_TOOLS="true")
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.assertEqual(self.b.stop(), 0)
            self.assert_no_sanitizer_report(self.b)
            self.b.cleanup()

    VOLATILE = {"session_id", "sessionId", "uuid", "duration_ms", "duration_api_ms", "ttft_ms", "ttft_stream_ms",
                "time_to_request_ms", "timestamp", "model", "agent_id"}

    def test_same_replies_in_direct_and_api_mode(self):
        # (The fake prints different diagnostics for json and stream-json; ChainWithRealClaude compares every field.)
        for prompt in ("Say hello", "two words", "ünïcode ✓"):
            direct = spawn(self.b, prompt)
            via = spawn(self.ksid, prompt)
            self.assertEqual(set(direct), set(via))
            d, v = direct["result"], via["result"]
            for key in ("type", "subtype", "is_error", "result"):
                self.assertEqual(d[key], v[key], key)
            self.assertEqual(v["sessionId"], v["session_id"])
            # both daemons logged the session
            self.assertTrue(os.path.exists(self.ksid.path("claude_logs", v["session_id"] + ".jsonl")))
            self.assertTrue(os.path.exists(self.b.path("claude_logs", v["session_id"] + ".jsonl")))

    def test_session_continues_across_the_chain(self):
        first = spawn(self.ksid, "first")["result"]
        second = spawn(self.ksid, "second", session_id=first["session_id"])["result"]
        self.assertEqual(second["session_id"], first["session_id"])  # the fake keeps a resumed id
        with open(self.b.path("claude_logs", first["session_id"] + ".jsonl")) as f:
            self.assertEqual(len(f.read().splitlines()), 4)

    def test_facade_stream_through_the_shim(self):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.a_port}/v1/chat/completions", method="POST",
            data=json.dumps({"model": "sonnet", "stream": True, "messages": [
                {"role": "user", "content": "FAKE:slowstream stream through two daemons"}]}).encode(),
            headers={"Content-Type": "application/json"})
        arrivals, content = [], ""
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.headers["Content-Type"], "text/event-stream")
            for line in r:
                if line.startswith(b"data: {"):
                    chunk = json.loads(line[6:])
                    self.assertNotIn("ksid_result", chunk)  # only for another ksid's shim
                    if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                        content += chunk["choices"][0]["delta"]["content"]
                        arrivals.append(time.monotonic())
        self.assertIn("stream through two daemons", content)
        self.assertGreaterEqual(len(arrivals), 3)
        self.assertGreater(arrivals[-1] - arrivals[0], 0.1)  # chunk by chunk, not buffered

    @unittest.skipUnless(HAVE_SDK, "openai SDK not installed: run scripts/test-deps")
    def test_openai_sdk_through_the_shim(self):
        out = subprocess.run(["node", os.path.join(HERE, "openai_sdk_client.mjs"), "stream",
                              f"http://127.0.0.1:{self.a_port}/v1", "k", "{}"], capture_output=True, text=True, timeout=60)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(r["content"], "ECHO: stream sdk")
        self.assertEqual(r["finish"], "stop")
        self.assertGreater(r["usage"]["completion_tokens"], 0)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.a_port}/metrics", timeout=10) as m:
            metrics = m.read().decode()
        self.assertIn("ksid_upstream_calls_total 1", metrics)
        self.assertIn("ksid_upstream_completed_total 1", metrics)

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def test_client_disconnect_at_a_stops_the_run_at_b(self):
        for stream in (True, False):
            s = socket.create_connection(("127.0.0.1", self.a_port))
            body = json.dumps({"model": "sonnet", "stream": stream,
                               "messages": [{"role": "user", "content": "FAKE:hang"}]}).encode()
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            self.assertTrue(self.wait_for(lambda: self.b.processes_with_marker() != []), "B never started claude")
            s.close()  # the client goes away: A cancels its upstream call, B sees its client go and kills claude
            self.assertTrue(self.wait_for(lambda: self.b.processes_with_marker() == []),
                            f"claude still running at B after the client left A (stream={stream})")

    def test_shutdown_of_a_during_an_upstream_call(self):
        result = {}
        t = threading.Thread(target=lambda: result.update(r=spawn(self.ksid, "FAKE:hang")))
        t.start()
        self.assertTrue(self.wait_for(lambda: self.b.processes_with_marker() != []))
        t0 = time.monotonic()
        self.assertEqual(self.ksid.stop(), 0)
        self.assertLess(time.monotonic() - t0, 5)
        t.join(10)
        self.assertIn("cancelled", result["r"]["result"]["error"])
        self.assertTrue(self.wait_for(lambda: self.b.processes_with_marker() == []))
        self.ksid.start()  # for tearDown

    def test_loop_is_refused(self):
        # A's shim pointed at A's own facade: the request comes back with A's id in X-Ksid-Hop.
        port = free_port()
        k = Ksid(config=shim_config(f"http://127.0.0.1:{port}/v1"),
                 env=dict(NO_CLAUDE, KSID_FACADE_ENABLED="true", KSID_FACADE_PORT=str(port))).start()
        try:
            t0 = time.monotonic()
            r = spawn(k, "x")["result"]
            self.assertLess(time.monotonic() - t0, 5)
            self.assertIn("the upstream answered 508", r["error"])
            self.assertIn("request loop", r["error"])
            self.assertEqual(r["upstream_status"], 508)
        finally:
            self.assertEqual(k.stop(), 0)
            k.cleanup()


@unittest.skipUnless(HAVE_CLAUDE, "claude CLI not installed: run scripts/test-deps")
class ChainWithRealClaude(StubServerMixin, KsidTestCase):
    """A (shim) → B (facade) → the real claude CLI → the loopback Anthropic stub."""

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-shim-home-")
        self.b_port = free_port()
        self.b = Ksid(env=dict(self.ksid_claude_env(self.home), KSID_FACADE_ENABLED="true",
                               KSID_FACADE_PORT=str(self.b_port), KSID_FACADE_ENABLE_TOOLS="true"),
                      fake_claude=False).start()
        self.ksid_config = shim_config(f"http://127.0.0.1:{self.b_port}/v1")
        self.ksid_env = dict(NO_CLAUDE)
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.assertEqual(self.b.stop(), 0)
            self.b.cleanup()
            shutil.rmtree(self.home, ignore_errors=True)

    def test_direct_and_api_mode_agree_and_sessions_continue(self):
        direct = spawn(self.b, "Say hello")["result"]
        via = spawn(self.ksid, "Say hello")["result"]
        self.assertEqual(direct["result"], "ECHO[1]: Say hello")
        self.assertEqual(via["result"], "ECHO[1]: Say hello")
        self.maxDiff = None
        # Everything but ids and timings is the same; B runs claude with stream-json, whose result adds one field.
        shim_fields = {"sessionId", "model", "timestamp", "agent_id"}
        stream_json_only = {"model_usage_since_last_result", "begun_message_ids"}

        def stable(r, skip):
            return {k: v for k, v in r.items() if k not in Chain.VOLATILE | skip and not k.endswith("_ms")}
        self.assertEqual(stable(direct, set()), stable(via, shim_fields | stream_json_only))
        second = spawn(self.ksid, "And again", session_id=via["session_id"])["result"]
        self.assertEqual(second["result"], "ECHO[2]: And again")
        self.assertEqual(second["session_id"], via["session_id"])


if __name__ == "__main__":
    unittest.main()
