"""Claude Code through ksid (issue 16): the real CLI with ANTHROPIC_BASE_URL pointing at a ksid facade's
/v1/messages, whose own backend is the real CLI against the Anthropic-API stub. Plain, streamed and resumed
`claude -p` runs go through the whole chain: outer CLI → ksid → inner CLI → stub."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import StubServerMixin, analyse, claude_bin, claude_env  # noqa: E402
from ksid_harness import free_port, KsidTestCase  # noqa: E402

CLAUDE = claude_bin()
if not CLAUDE and os.environ.get("KSID_REQUIRE_REAL_CLAUDE"):
    raise RuntimeError("the real claude CLI is required but missing: run scripts/test-deps")


@unittest.skipUnless(CLAUDE, "the real claude CLI is not installed: run scripts/test-deps")
class ClaudeCodeThroughKsid(StubServerMixin, KsidTestCase):
    def setUp(self):
        self.port = free_port()
        self.ksid_env = dict(self.ksid_claude_env(tempfile.mkdtemp(prefix="ksid-inner-home-")),
                             KSID_FACADE_ENABLED="true", KSID_FACADE_PORT=str(self.port),
                             KSID_API_KEYS="chain-key-123")
        super().setUp()
        self.outer_home = tempfile.mkdtemp(prefix="ksid-outer-home-")
        self.outer_cwd = tempfile.mkdtemp(prefix="ksid-outer-cwd-")

    def outer(self, prompt, *args):
        env = claude_env(self.outer_home, f"http://127.0.0.1:{self.port}")
        env["ANTHROPIC_API_KEY"] = "chain-key-123"  # ksid's key, sent as x-api-key
        before = len(self.stub.requests)
        out = subprocess.run([CLAUDE, "--print", "--model", "sonnet", *args], input=prompt.encode(), env=env,
                             cwd=self.outer_cwd, capture_output=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr.decode()[-2000:])
        inner = [r for r in self.stub.requests[before:] if r["path"].startswith("/v1/messages")]
        self.assertTrue(inner, "the inner CLI made no API request")
        return out.stdout.decode(), inner

    def test_plain_streamed_and_resumed(self):
        stdout, _ = self.outer("Say hello through the chain", "--output-format", "json")
        first = json.loads(stdout)
        self.assertFalse(first["is_error"], first)
        self.assertEqual(first["result"], "ECHO[1]: Say hello through the chain")
        self.assertGreater(first["usage"]["output_tokens"], 0)  # ksid's usage, from the inner CLI's

        stdout, _ = self.outer("Stream through the chain", "--output-format", "stream-json", "--verbose",
                               "--include-partial-messages")
        lines = [json.loads(l) for l in stdout.splitlines() if l.strip()]
        deltas = [l["event"]["delta"]["text"] for l in lines if l["type"] == "stream_event"
                  and l["event"]["type"] == "content_block_delta" and l["event"]["delta"].get("type") == "text_delta"]
        self.assertGreaterEqual(len(deltas), 3)  # ksid's SSE deltas reached the outer CLI as they came
        self.assertEqual("".join(deltas), "ECHO[1]: Stream through the chain")
        self.assertEqual(lines[-1]["result"], "ECHO[1]: Stream through the chain")

        # --resume: the outer CLI sends the whole conversation; ksid renders it for a fresh inner session.
        stdout, inner = self.outer("And the second turn", "--output-format", "json", "--resume", first["session_id"])
        second = json.loads(stdout)
        self.assertFalse(second["is_error"], second)
        self.assertEqual(second["session_id"], first["session_id"])
        _, inner_prompt, _ = analyse(inner[-1]["body"])
        self.assertTrue(inner_prompt.startswith("User: "), inner_prompt[:100])  # the transcript format (README)
        self.assertTrue(inner_prompt.endswith("Say hello through the chain\n\nAssistant: ECHO[1]: Say hello through "
                                              "the chain\n\nUser: And the second turn"), inner_prompt[-300:])
        self.assertTrue(second["result"].startswith("ECHO[1]: User: "), second["result"][:200])

        with open(self.ksid.path("logs", "daemon.log")) as f:
            log = f.read()
        self.assertIn("HTTP POST /v1/messages 200", log)
        self.assertNotIn("chain-key-123", log)



@unittest.skipUnless(CLAUDE, "the real claude CLI is not installed: run scripts/test-deps")
class ClaudeCodeToolsThroughKsid(ClaudeCodeThroughKsid):
    """With the warm pool, the outer CLI's own tools are ksid's client tools: the inner model's call comes back
    to the outer CLI, which runs it in its own directory, and the result continues the inner turn."""

    def setUp(self):
        self.ksid_config = "pool:\n  enabled: true\n  spares: 0\n"
        super().setUp()

    def test_the_inner_models_call_runs_in_the_outer_cli(self):
        with open(os.path.join(self.outer_cwd, "marker.txt"), "w") as f:
            f.write("outer-side-file")
        prompt = 'STUB_TOOL_USE:mcp__client__Bash {"command": "cat marker.txt", "description": "Show the marker"}'
        stdout, inner = self.outer(prompt, "--output-format", "json", "--allowedTools", "Bash")
        out = json.loads(stdout)
        self.assertFalse(out["is_error"], out)
        self.assertEqual(out["result"], "TOOL_RESULT[1]: outer-side-file")  # the outer CLI ran it, in its cwd
        offered = {t for tools in self.stub.offered_tools for t in tools}
        self.assertIn("mcp__client__Bash", offered)  # the outer CLI's tools, offered to the inner model
        self.assertNotIn("Bash", offered)  # the inner CLI's own built-ins stay off
        self.assertEqual(len(inner), 2)  # one inner turn: the call, then the answer with its result


if __name__ == "__main__":
    unittest.main()
