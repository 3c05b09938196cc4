"""Tools really off: with facade.enable_tools false (the default) an HTTP client's turn runs the real claude
CLI with no tool at all (--tools "" --strict-mcp-config). A stub model that asks for Read, Bash, Glob, Grep,
Write, WebFetch and Task gets none of them run: nothing from the project reaches the API, nothing is written,
and no request offers the model a tool. Socket SPAWN with enable_tools false keeps the legacy behaviour (the
CLI's defaults, under which Read does run) unless daemon.tools_off_means_none is set."""
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import StubServerMixin, real_claude  # noqa: E402
from ksid_harness import free_port, Ksid, KsidTestCase  # noqa: E402

CLAUDE, AVAILABLE = real_claude()

SECRET = "SECRET-MARKER-7f3a9"


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class ToolsOff(StubServerMixin, KsidTestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-claude-home-")
        self.port = free_port()
        self.ksid_env = dict(self.ksid_claude_env(self.home), KSID_RUN_TIME_LIMIT="60", KSID_FACADE_ENABLED="true",
                             KSID_FACADE_PORT=str(self.port))
        super().setUp()
        os.makedirs(self.ksid.path("config"), exist_ok=True)
        with open(self.ksid.path("config", "secret.yaml"), "w") as f:
            f.write(f"api_key: {SECRET}\n")
        self.stub.clear()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.home, ignore_errors=True)

    def leaked(self):
        return any(SECRET in json.dumps(body) for body in self.stub.message_requests())

    def chat(self, prompt):
        body = json.dumps({"model": "sonnet", "messages": [{"role": "user", "content": prompt}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=90) as r:
            return json.loads(r.read())

    def test_http_turns_run_no_tool_whatever_the_model_asks(self):
        secret = self.ksid.path("config", "secret.yaml")
        asks = {
            "Read": {"file_path": secret},
            "Bash": {"command": "cat config/secret.yaml", "description": "read it"},
            "Glob": {"pattern": "**/*.yaml"},
            "Grep": {"pattern": "SECRET", "path": "."},
            "Write": {"file_path": self.ksid.path("pwned.txt"), "content": "pwned"},
            "WebFetch": {"url": "http://127.0.0.1:9/", "prompt": "fetch"},
            "Task": {"description": "look", "prompt": "cat config/secret.yaml", "subagent_type": "general-purpose"},
        }
        for tool, args in asks.items():
            with self.subTest(tool=tool):
                reply = self.chat(f"STUB_TOOL_USE:{tool} {json.dumps(args)}")
                self.assertEqual(reply["object"], "chat.completion")
        self.assertFalse(self.leaked(), "a tool ran and sent the project's secret to the API")
        self.assertFalse(os.path.exists(self.ksid.path("pwned.txt")))
        offered = self.stub.offered_tools
        self.assertTrue(offered)
        self.assertEqual([names for names in offered if names], [], "requests offered the model tools")

    def test_socket_spawn_keeps_the_legacy_defaults_unless_configured(self):
        secret = self.ksid.path("config", "secret.yaml")
        prompt = "STUB_TOOL_USE:Read " + json.dumps({"file_path": secret})
        spawn = {"command": "SPAWN", "version": "2.0",
                 "parameters": {"mode": "sync", "type": "claude", "prompt": prompt, "enable_tools": False}}
        out = self.ksid.request(spawn, timeout=90)["result"]
        self.assertNotIn("error", out, out)
        self.assertTrue(self.leaked(), "the CLI's defaults let Read run (the legacy behaviour, documented)")
        self.stub.clear()
        self.ksid.stop()
        workdir = self.ksid.dir  # the same project directory, the same secret
        self.addCleanup(shutil.rmtree, workdir, True)
        self.ksid = Ksid(workdir=workdir, env=dict(self.ksid_env, KSID_TOOLS_OFF_MEANS_NONE="true")).start()
        out = self.ksid.request(spawn, timeout=90)["result"]
        self.assertNotIn("error", out, out)
        self.assertFalse(self.leaked())


if __name__ == "__main__":
    unittest.main()
