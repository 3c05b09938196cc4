"""Warm claude processes with the real CLI (npm @anthropic-ai/claude-code) against the loopback Anthropic-API
stub: the first turn from a pre-started process, follow-ups in the same process (the stub sees the
conversation grow), the result object against a cold run's, and the memory budget forcing an eviction."""
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

# Fields the CLI itself varies from run to run (timings, ids); the rest must match a cold run's.
VARYING = {"duration_ms", "duration_api_ms", "ttft_ms", "ttft_stream_ms", "time_to_request_ms", "session_id",
           "first_content_frame_ms", "uuid", "total_cost_usd", "modelUsage", "usage", "fast_mode_state"}


def spawn(prompt, session=None, **extra):
    params = dict(mode="sync", type="claude", prompt=prompt, **extra)
    if session:
        params["session_id"] = session
    return {"command": "SPAWN", "version": "2.0", "parameters": params}


class WarmRealClaudeCase(StubServerMixin, KsidTestCase):
    pool = "pool:\n  enabled: true\n  spares: 1\n"

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-claude-home-")
        self.ksid_env = dict(self.ksid_claude_env(self.home), KSID_RUN_TIME_LIMIT="60")
        self.ksid_config = self.pool
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.home, ignore_errors=True)

    def warm(self):
        procs = self.ksid.request({"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]
        return [p for p in procs.values() if p.get("type") == "warm_claude"]

    def wait_warm(self, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.warm()):
                return self.warm()
            time.sleep(0.1)
        self.fail(f"warm processes never matched: {self.warm()}")

    def turn(self, prompt, session=None, **extra):
        out = self.ksid.request(spawn(prompt, session, **extra), timeout=90)["result"]
        self.assertNotIn("error", out, out)
        return out


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class WarmRealClaude(WarmRealClaudeCase):

    def test_first_turn_pre_started_then_follow_ups_and_fields_like_a_cold_run(self):
        spare = self.wait_warm(lambda w: any(p["status"] == "spare" for p in w))[0]
        time.sleep(2)  # let it finish starting, as a spare does between requests
        first = self.turn("Say hello")
        self.assertEqual(first["result"], "ECHO[1]: Say hello")
        session = first["session_id"]
        owner = [p for p in self.warm() if p["session_id"] == session]
        self.assertEqual([p["pid"] for p in owner], [spare["pid"]])
        second = self.turn("And again", session)
        self.assertEqual(second["result"], "ECHO[2]: And again")  # the stub saw the conversation grow
        self.assertEqual(second["session_id"], session)
        third = self.turn("Once more", session)
        self.assertEqual(third["result"], "ECHO[3]: Once more")
        self.assertEqual([p["pid"] for p in self.warm() if p["session_id"] == session], [spare["pid"]])
        self.assertEqual(third["num_turns"], second["num_turns"])
        # Cost per turn, not the process's running total (which would be about three turns' worth by now).
        self.assertGreater(third["total_cost_usd"], 0)
        self.assertLess(third["total_cost_usd"], 1.5 * second["total_cost_usd"])

        # The same turn cold: every field a cold run has, with the same values except those the CLI varies.
        self.ksid.stop()
        self.ksid = Ksid(env=self.ksid_env).start()
        cold = self.turn("Say hello")
        self.assertEqual(set(cold) - {"stderr"}, set(first) - {"stderr"})
        for key in set(cold) - VARYING:
            self.assertEqual(cold[key], first[key], key)
        self.assertLess(abs(cold["total_cost_usd"] - first["total_cost_usd"]), 1e-9)
        # modelUsage is the turn's own too (the CLI's is cumulative in a persistent process).
        self.assertEqual(next(iter(second["modelUsage"].values()))["inputTokens"], second["usage"]["input_tokens"])
        self.assertNotIn("model_usage_since_last_result", second)


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class WarmRealClaudeInterrupt(WarmRealClaudeCase):
    pool = "pool:\n  enabled: true\n  spares: 0\n  prestart: false\n  interrupt_drain: 3\n"

    def setUp(self):
        super().setUp()
        self.ksid.stop()
        self.ksid = Ksid(env=dict(self.ksid_env, KSID_RUN_TIME_LIMIT="3"), config=self.pool).start()

    def test_a_turn_stuck_in_a_slow_api_call_is_stopped_and_the_session_goes_on(self):
        first = self.turn("hello", enable_tools=False)
        start = time.monotonic()
        out = self.ksid.request(spawn("STUB_SLOW:30 wait", first["session_id"], enable_tools=False), timeout=60)
        self.assertIn("time limit", out["result"]["error"])
        self.assertLess(time.monotonic() - start, 10)
        # Interrupted and drained, or killed and resumed: either way the session answers its next turn.
        after = self.turn("still there?", first["session_id"], enable_tools=False)
        self.assertTrue(after["result"].startswith("ECHO["), after)
        self.assertEqual(after["session_id"], first["session_id"])


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class WarmRealClaudeMemory(WarmRealClaudeCase):
    pool = "pool:\n  enabled: true\n  spares: 0\n  prestart: false\n  memory_budget: 200MiB\n"

    def test_the_memory_budget_forces_an_eviction(self):
        a = self.turn("first conversation", enable_tools=False)
        pa = [p for p in self.warm() if p["session_id"] == a["session_id"]][0]
        self.wait_warm(lambda w: any(p["rss_bytes"] > 64 << 20 for p in w))  # measured (every 2 s)
        b = self.turn("second conversation", enable_tools=False)
        pids = [p["pid"] for p in self.warm()]
        self.assertNotIn(pa["pid"], pids)  # evicted for room
        self.assertTrue(any(p["session_id"] == b["session_id"] for p in self.warm()))
        again = self.turn("back to the first", a["session_id"], enable_tools=False)
        self.assertEqual(again["result"], "ECHO[2]: back to the first")  # resumed: the stub sees both turns


if __name__ == "__main__":
    unittest.main()
