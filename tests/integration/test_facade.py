"""The OpenAI-compatible facade (issue: chat completions with streaming, models, health, metrics, auth):
the official openai SDK as the client, the fake and the real claude CLI behind it, raw sockets for abuse."""
import json
import os
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
from ksid_harness import assert_disconnect_stops_the_run, free_port, Ksid, KsidTestCase, read_all  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.join(HERE, "..", "..", "build", "tools", "node_modules", "openai", "package.json")
HAVE_SDK = os.path.exists(SDK)
if not HAVE_SDK and os.environ.get("KSID_REQUIRE_REAL_CLAUDE"):
    raise RuntimeError("the openai SDK is required but missing: run scripts/test-deps")
CLAUDE = claude_bin()


class FacadeCase(KsidTestCase):
    """A ksid with the facade on a free port; sdk() runs one case of an SDK client script against it."""
    facade_env = {}
    sdk_script = "openai_sdk_client.mjs"
    sdk_base_path = "/v1"  # what the SDK's baseURL has after the host

    def setUp(self):
        self.port = free_port()
        self.ksid_env = dict({"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.port)}, **self.facade_env)
        super().setUp()
        self.base = f"http://127.0.0.1:{self.port}"

    def sdk(self, case, api_key="no-key-needed", extra=None):
        out = subprocess.run(["node", os.path.join(HERE, self.sdk_script), case, self.base + self.sdk_base_path,
                              api_key, json.dumps(extra or {})], capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertNotIn("sdkFailure", result, result)
        return result

    def http(self, method, path, body=None, headers=None, timeout=30):
        """(status, headers, body) of one request; a dict body is sent as JSON."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()


@unittest.skipUnless(HAVE_SDK, "openai SDK not installed: run scripts/test-deps")
class WithOpenAISdk(FacadeCase):
    def test_plain_completion(self):
        r = self.sdk("plain")
        self.assertEqual(r["object"], "chat.completion")
        self.assertEqual(r["content"], "ECHO: hello sdk")
        self.assertEqual(r["finish"], "stop")
        self.assertEqual(r["model"], "sonnet")
        self.assertEqual(r["usage"], {"prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11,
                                      "prompt_tokens_details": {"cached_tokens": 2}})
        with open(self.ksid.path("claude_logs", r["id"] + ".jsonl")) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(human["content"], "hello sdk")  # the prompt sent on stdin
        self.assertEqual(claude["type"], "claude")
        self.assertFalse(os.path.exists(self.ksid.path("sockets", "last_session_id")))

    def test_streamed_completion_assembled_from_chunks(self):
        r = self.sdk("stream")
        self.assertEqual(r["content"], "ECHO: stream sdk")
        self.assertEqual(r["firstRole"], "assistant")
        self.assertEqual(r["finish"], "stop")
        self.assertEqual(len(r["ids"]), 1)  # one id for every chunk
        self.assertEqual(r["usage"]["completion_tokens"], 5)
        self.assertGreaterEqual(r["chunks"], 5)

    def test_resume_by_session_id(self):
        r = self.sdk("resume")
        self.assertEqual(r["first"], r["second"])  # the fake keeps the resumed id, as the real CLI does
        self.assertEqual(r["secondContent"], "ECHO: second turn")  # only the new message is sent

    def test_models(self):
        r = self.sdk("models")
        self.assertEqual(r["ids"], ["sonnet", "opus", "haiku"])
        self.assertEqual(r["one"], "sonnet")

    def test_errors_are_the_sdks_typed_errors(self):
        r = self.sdk("error", extra={"messages": []})
        self.assertEqual((r["error"], r["status"], r["param"]), ("BadRequestError", 400, "messages"))
        r = self.sdk("error", extra={"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual((r["error"], r["status"]), ("NotFoundError", 404))
        r = self.sdk("error", extra={"messages": [{"role": "user", "content": "x"}], "body": {"n": 3}})
        self.assertEqual((r["error"], r["param"]), ("BadRequestError", "n"))
        r = self.sdk("error", extra={"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})
        self.assertEqual((r["error"], r["param"]), ("BadRequestError", "messages[0].content[0].image_url.url"))
        r = self.sdk("error", extra={"messages": [{"role": "user", "content": "x"}],
                                     "body": {"metadata": {"enable_tools": "true"}}})
        self.assertEqual((r["error"], r["param"]), ("BadRequestError", "metadata.enable_tools"))


@unittest.skipUnless(HAVE_SDK, "openai SDK not installed: run scripts/test-deps")
class Auth(FacadeCase):
    facade_env = {"KSID_API_KEYS": "secret-key-1,secret-key-2"}

    def test_bearer_keys(self):
        r = self.sdk("error", api_key="wrong-key-123", extra={"messages": [{"role": "user", "content": "x"}]})
        self.assertEqual((r["error"], r["status"]), ("AuthenticationError", 401))
        self.assertEqual(self.sdk("plain", api_key="secret-key-2")["content"], "ECHO: hello sdk")
        status, _, _ = self.http("GET", "/health")  # stays open
        self.assertEqual(status, 200)
        status, _, _ = self.http("GET", "/v1/models")
        self.assertEqual(status, 401)
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertNotIn("secret-key", f.read())


@unittest.skipUnless(HAVE_SDK, "openai SDK not installed: run scripts/test-deps")
class QueueFull(FacadeCase):
    facade_env = {"KSID_MAX_CONCURRENT": "1", "KSID_MAX_PENDING": "0"}

    def test_queue_full_is_429_with_retry_after(self):
        blocker = threading.Thread(target=lambda: self.http(
            "POST", "/v1/chat/completions", json.dumps({"model": "sonnet", "messages": [
                {"role": "user", "content": "FAKE:sleep=3000"}]}).encode(), {"Content-Type": "application/json"}))
        blocker.start()
        time.sleep(0.5)
        r = self.sdk("error", extra={"messages": [{"role": "user", "content": "x"}]})
        self.assertEqual((r["error"], r["status"], r["retryAfter"]), ("RateLimitError", 429, "1"))
        blocker.join()


class Observability(FacadeCase):
    def test_health_metrics_and_request_ids(self):
        status, headers, body = self.http("GET", "/health", headers={"X-Request-Id": "trace-123"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["X-Request-Id"], "trace-123")
        health = json.loads(body)
        self.assertEqual(health["status"], "ok")
        self.assertEqual(health["backend"], "cli")
        self.assertEqual(health["queue"]["max_concurrent"], 4)
        status, headers, _ = self.http("POST", "/v1/chat/completions", json.dumps(
            {"model": "sonnet", "messages": [{"role": "user", "content": "count me"}]}).encode(),
            {"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        self.assertTrue(headers["X-Request-Id"].startswith("req_"))
        status, headers, body = self.http("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        text = body.decode()
        self.assertIn('ksid_http_requests_total{route="/v1/chat/completions",status="200"} 1', text)
        self.assertIn('ksid_runs_total{cause="completed"} 1', text)
        self.assertIn('ksid_tokens_total{kind="completion"} 5', text)
        self.assertIn("ksid_http_request_duration_seconds_bucket", text)
        self.assertIn("ksid_queue_wait_seconds_count 1", text)
        self.assertEqual(self.http("DELETE", "/health")[0], 405)


class Faults(FacadeCase):
    facade_env = {"KSID_RUN_TIME_LIMIT": "1", "KSID_KILL_GRACE": "0.5"}

    def post(self, content, stream=False, timeout=30):
        body = {"model": "sonnet", "messages": [{"role": "user", "content": content}], "stream": stream}
        return self.http("POST", "/v1/chat/completions", json.dumps(body).encode(),
                         {"Content-Type": "application/json"}, timeout=timeout)

    def test_timeout_is_504_and_the_child_is_killed(self):
        status, headers, body = self.post("FAKE:hang")
        self.assertEqual(status, 504)
        self.assertEqual(json.loads(body)["error"]["type"], "timeout_error")
        self.assertEqual(headers.get("x-should-retry"), "false")
        time.sleep(0.3)
        self.assertEqual(self.ksid.processes_with_marker(), [])

    def test_crash_is_502(self):
        status, _, body = self.post("FAKE:crash")
        self.assertEqual(status, 502)
        self.assertIn("exit status 3", json.loads(body)["error"]["message"])

    def test_disconnect_kills_the_child(self):
        for stream in (False, True):
            assert_disconnect_stops_the_run(self, self.ksid, self.port, "/v1/chat/completions", {
                "model": "sonnet", "stream": stream, "messages": [{"role": "user", "content": "FAKE:sleep=20000"}]})

    def test_streamed_keepalive_and_error_after_headers(self):
        self.ksid.stop()
        self.ksid = Ksid(env=dict(self.ksid_env, KSID_RUN_TIME_LIMIT="3")).start()
        status, headers, body = self.post("FAKE:slowstream FAKE:sleep=0 words a b c", stream=True)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/event-stream")
        text = body.decode()
        self.assertTrue(text.endswith("data: [DONE]\n\n"))

    def test_raw_http_abuse(self):
        def raw(data, read=True):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the whole body went out: the answer is still there to read
            out = read_all(s) if read else b""
            s.close()
            return out
        self.assertTrue(raw(b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400"))
        big = b"x" * (5 * 1024 * 1024)
        reply = raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(big)).encode() +
                    b"\r\n\r\n" + big)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:100])
        reply = raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 7\r\n\r\n{nope}\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:100])
        self.assertEqual(self.http("GET", "/health")[0], 200)


class Shutdown(FacadeCase):
    def test_sigterm_during_runs_ends_them_and_exits_cleanly(self):
        replies = {}

        def client(name, stream):
            body = json.dumps({"model": "sonnet", "stream": stream,
                               "messages": [{"role": "user", "content": "FAKE:sleep=20000"}]}).encode()
            try:
                replies[name] = self.http("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            except Exception as e:  # a stream cut short is an acceptable ending too
                replies[name] = (None, {}, str(e).encode())

        threads = [threading.Thread(target=client, args=(n, s)) for n, s in (("plain", False), ("stream", True))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while len(self.ksid.processes_with_marker()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        start = time.monotonic()
        self.ksid.proc.send_signal(15)
        self.assertEqual(self.ksid.wait(10), 0)
        self.assertLess(time.monotonic() - start, 5)
        for t in threads:
            t.join(10)
        self.assertEqual(replies["plain"][0], 502)  # it had started: "retry" (503) would be wrong
        self.assertEqual(self.ksid.processes_with_marker(), [])
        self.assert_no_sanitizer_report(self.ksid)


class SlowClients(FacadeCase):
    def setUp(self):
        self.facade_env = {}
        super().setUp()

    def test_a_slow_client_is_cut_off_by_the_header_timeout(self):
        self.ksid.stop()
        cfg = "facade:\n  enabled: true\n  port: %d\n  header_timeout: 1\n" % self.port
        self.ksid = Ksid(config=cfg).start()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"GET /health HTTP/1.1\r\nHo")
        start = time.monotonic()
        self.assertEqual(read_all(s), b"")
        self.assertLess(time.monotonic() - start, 5)
        s.close()
        self.assertEqual(self.http("GET", "/health")[0], 200)


class Startup(unittest.TestCase):
    def test_non_loopback_without_keys_refuses_to_start(self):
        k = Ksid(env={"KSID_FACADE_ENABLED": "true", "KSID_FACADE_HOST": "0.0.0.0", "KSID_FACADE_PORT": str(free_port())})
        try:
            k.start(wait=False)
            self.assertEqual(k.wait(10), 1)
            self.assertIn("without API keys", k.stderr())
            self.assertFalse(os.path.exists(k.path("sockets", "claude_daemon.sock")))
        finally:
            k.cleanup()


@unittest.skipUnless(HAVE_SDK and os.access(CLAUDE, os.X_OK), "openai SDK or claude CLI missing: run scripts/test-deps")
class RealClaudeBehindTheFacade(StubServerMixin, FacadeCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-facade-home-")
        self.facade_env = self.ksid_claude_env(self.home)
        super().setUp()

    def test_plain_streamed_and_resumed(self):
        r = self.sdk("plain", extra={"prompt": "Say hello"})
        self.assertEqual(r["content"], "ECHO[1]: Say hello")
        self.assertGreater(r["usage"]["completion_tokens"], 0)
        s = self.sdk("stream", extra={"prompt": "Stream this"})
        self.assertEqual(s["content"], "ECHO[1]: Stream this")
        self.assertGreaterEqual(s["chunks"], 4)  # token deltas, not one block
        r = self.sdk("resume")
        self.assertEqual(r["secondContent"], "ECHO[2]: second turn")
        self.assertEqual(r["first"], r["second"])


if __name__ == "__main__":
    unittest.main()
