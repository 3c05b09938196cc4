"""The real `claude` CLI (installed by scripts/test-deps) against the loopback Anthropic stub; no ksid involved.

Proves what the SPAWN tests rely on: the environment of anthropic_stub.claude_env() keeps the CLI on the
stub, a prompt on stdin reaches the API, sessions persist under $HOME and resume, and the stream-json format
carries token deltas. Skipped when the CLI is not installed.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import AnthropicStub, claude_env, real_claude  # noqa: E402

CLAUDE, _ = real_claude()
RUN_TIMEOUT = 60
JSON_ARGS = ["--model", "sonnet", "--print", "--output-format", "json"]


@unittest.skipUnless(os.access(CLAUDE, os.X_OK),
                     f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class RealClaudeAgainstStub(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stub = AnthropicStub().start()

    @classmethod
    def tearDownClass(cls):
        cls.stub.stop()

    def setUp(self):
        self.stub.clear()
        self.tmp = tempfile.mkdtemp(prefix="claude-smoke-")
        self.home = os.path.join(self.tmp, "home")
        self.cwd = os.path.join(self.tmp, "project")
        os.mkdir(self.home)
        os.mkdir(self.cwd)
        self.env = claude_env(self.home, self.stub.base_url)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def claude(self, args, prompt):
        start = time.monotonic()
        p = subprocess.run([CLAUDE] + args, input=prompt.encode(), env=self.env, cwd=self.cwd,
                           capture_output=True, timeout=RUN_TIMEOUT)
        p.wall = time.monotonic() - start
        return p

    def claude_json(self, args, prompt):
        p = self.claude(JSON_ARGS + args, prompt)
        self.assertEqual(p.returncode, 0, f"stderr: {p.stderr.decode(errors='replace')}")
        out = json.loads(p.stdout)
        self.assertEqual(out["type"], "result")
        self.assertFalse(out["is_error"], out)
        return out

    def session_id(self, out):
        sid = out.get("session_id") or out.get("sessionId")
        self.assertRegex(sid or "", r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        return sid

    def assert_only_messages_requests(self):
        paths = [(r["method"], r["path"]) for r in self.stub.requests]
        self.assertTrue(paths)
        for method, path in paths:
            self.assertEqual(method, "POST", paths)
            self.assertTrue(path.split("?")[0] == "/v1/messages", paths)
        for r in self.stub.requests:
            self.assertEqual(r["headers"].get("x-api-key"), "test-key")
            self.assertTrue(r["body"].get("stream"))

    def test_a_json_turn(self):
        out = self.claude_json([], "Say hello")
        self.assertEqual(out["result"], "ECHO[1]: Say hello")
        sid = self.session_id(out)
        self.assertEqual(len(glob.glob(os.path.join(self.home, ".claude", "projects", "*", sid + ".jsonl"))), 1)
        self.assert_only_messages_requests()

    def test_b_resume_continues_the_session(self):
        first = self.claude_json([], "Say hello")
        sid = self.session_id(first)
        second = self.claude_json(["--resume", sid], "And again")
        self.assertEqual(second["result"], "ECHO[2]: And again")
        self.session_id(second)  # the same id in 2.1.x, but never assumed by ksid
        messages = self.stub.message_requests()[-1]["messages"]
        self.assertIn("Say hello", json.dumps(messages))
        self.assert_only_messages_requests()

    def test_c_stream_json_with_partial_messages(self):
        p = self.claude(["--model", "sonnet", "--print", "--output-format", "stream-json", "--verbose",
                         "--include-partial-messages"], "Stream this answer please")
        self.assertEqual(p.returncode, 0, f"stderr: {p.stderr.decode(errors='replace')}")
        events = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
        self.assertEqual((events[0]["type"], events[0].get("subtype")), ("system", "init"))
        sid = events[0]["session_id"]
        deltas = [e["event"]["delta"]["text"] for e in events
                  if e["type"] == "stream_event" and e["event"].get("type") == "content_block_delta"
                  and e["event"]["delta"].get("type") == "text_delta"]
        self.assertGreater(len(deltas), 1)
        self.assertEqual("".join(deltas), "ECHO[1]: Stream this answer please")
        self.assertTrue(any(e["type"] == "assistant" for e in events))
        result = events[-1]
        self.assertEqual(result["type"], "result")
        self.assertFalse(result["is_error"])
        self.assertEqual(result["result"], "ECHO[1]: Stream this answer please")
        self.assertEqual(result["session_id"], sid)
        self.assert_only_messages_requests()

    def test_d_tool_call_runs_and_its_result_reaches_the_api(self):
        out = self.claude_json(["--allowedTools", "Bash"], "please STUB_TOOL:echo tool-ran")
        self.assertEqual(out["result"], "TOOL_RESULT[1]: tool-ran")
        self.assertEqual(len(self.stub.message_requests()), 2)

    def test_e_stub_error_fails_fast(self):
        p = self.claude(JSON_ARGS, "fail STUB_ERROR:529")
        self.assertEqual(p.returncode, 1)
        out = json.loads(p.stdout)
        self.assertTrue(out["is_error"])
        self.assertIn("529", out["result"])
        self.assertLess(p.wall, 30)


if __name__ == "__main__":
    unittest.main()
