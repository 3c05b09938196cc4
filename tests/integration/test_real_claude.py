"""SPAWN end to end with the real `claude` CLI (npm @anthropic-ai/claude-code, installed by scripts/test-deps)
pointed at the loopback Anthropic-API stub: sync, async and --resume continuity through ksid."""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import StubServerMixin, real_claude  # noqa: E402
from ksid_harness import Ksid, KsidTestCase  # noqa: E402

CLAUDE, AVAILABLE = real_claude()


def spawn(mode="sync", **params):
    return {"command": "SPAWN", "version": "2.0", "parameters": dict(mode=mode, type="claude", **params)}


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class RealClaude(StubServerMixin, KsidTestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-claude-home-")
        env = self.ksid_claude_env(self.home)
        env["KSID_RUN_TIME_LIMIT"] = "60"
        self.ksid_env = env
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.home, ignore_errors=True)

    def test_sync_spawn_and_resume_continuity(self):
        r = self.ksid.request(spawn(prompt="Say hello", enable_tools=False), timeout=90)
        self.assertEqual(r["status"], "success", r)
        out = r["result"]
        self.assertNotIn("error", out, out)
        self.assertEqual(out["result"], "ECHO[1]: Say hello")
        self.assertFalse(out["is_error"])
        session = out["session_id"]
        with open(self.ksid.path("sockets", "last_session_id")) as f:
            self.assertEqual(f.read(), session)
        self.assertEqual(os.readlink(self.ksid.path("claude_logs", "latest.jsonl")), session + ".jsonl")

        r = self.ksid.request(spawn(prompt="And again", session_id=session, enable_tools=False), timeout=90)
        out = r["result"]
        self.assertEqual(out["result"], "ECHO[2]: And again")  # the stub saw both user turns
        self.assertEqual(out["session_id"], session)
        with open(self.ksid.path("claude_logs", session + ".jsonl")) as f:
            lines = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual([l["type"] for l in lines], ["human", "claude", "human", "claude"])
        self.assertEqual(lines[2]["content"], "And again")
        self.assertEqual(lines[3]["result"], "ECHO[2]: And again")
        # the prompt went to the API through stdin, never argv
        self.assertTrue(any("And again" in json.dumps(req.get("body", req)) for req in self.stub.message_requests()))

    def test_async_spawn_logs_the_run(self):
        r = self.ksid.request(spawn(mode="async", prompt="Async hello", agent_id="agent-real", enable_tools=False))
        self.assertEqual(r["result"]["status"], "started")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.ksid.request(
                {"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]:
            time.sleep(0.1)
        logs = [n for n in os.listdir(self.ksid.path("claude_logs"))
                if n.endswith(".jsonl") and n != "message_bus.jsonl"]
        self.assertEqual(len(logs), 1, logs)
        with open(self.ksid.path("claude_logs", logs[0])) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(human["agent_id"], "agent-real")
        self.assertEqual(claude["result"], "ECHO[1]: Async hello")
        self.assertEqual(claude["process_id"], r["result"]["process_id"])

    def test_unknown_resume_session_is_reported_like_legacy(self):
        out = self.ksid.request(spawn(prompt="x", session_id="00000000-0000-4000-8000-000000000000",
                                      enable_tools=False), timeout=90)["result"]
        self.assertEqual(out["error"], "No output from claude")
        self.assertEqual(out["returncode"], 1)
        self.assertIn("No conversation found", out["stderr"])

    def test_a_stalled_api_is_cut_off_by_the_time_limit(self):
        self.ksid.stop()
        env = dict(self.ksid_env, KSID_RUN_TIME_LIMIT="3", KSID_KILL_GRACE="1")
        self.ksid = Ksid(env=env).start()
        start = time.monotonic()
        out = self.ksid.request(spawn(prompt="STUB_SLOW:30 hello", enable_tools=False), timeout=60)["result"]
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn("time limit", out["error"])


if __name__ == "__main__":
    unittest.main()
