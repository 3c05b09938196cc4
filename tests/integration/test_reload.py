"""SIGHUP reloads the configuration (issue 20): what can change while running is applied (limits, models,
keys and the key file, log level, backend settings for new turns), what cannot is reported and kept, an
invalid file changes nothing, and nothing in flight is lost. A SIGHUP used to terminate ksid."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ksid_harness import free_port, Ksid, KsidTestCase  # noqa: E402

BASE_CONFIG = """
models:
  available: [sonnet, opus]
queue:
  max_concurrent: 4
facade:
  enabled: true
  port: {port}
daemon:
  log_level: info
"""


class Reload(KsidTestCase):
    def setUp(self):
        self.port = free_port()
        self.ksid_config = BASE_CONFIG.format(port=self.port)
        super().setUp()
        self.config_path = self.ksid.path("test-config.yaml")

    def write_config(self, text):
        with open(self.config_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".tmp", self.config_path)

    def log(self):
        with open(self.ksid.path("logs", "daemon.log")) as f:
            return f.read()

    def hup_and_wait(self, expect):
        """SIGHUP, then wait for the log line that says how the reload went."""
        before = self.log().count(expect)
        self.ksid.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.log().count(expect) == before:
            self.assertIsNone(self.ksid.proc.poll(), "ksid exited on SIGHUP")
            self.assertLess(time.monotonic(), deadline, f"no '{expect}' in the log")
            time.sleep(0.05)

    def get(self, path, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_applied_kept_and_refused(self):
        # An in-flight sync SPAWN (1.5 s) must be answered across the reloads.
        reply = {}
        spawn = threading.Thread(target=lambda: reply.update(self.ksid.request(
            {"command": "SPAWN", "version": "2.0",
             "parameters": {"mode": "sync", "type": "claude", "prompt": "FAKE:sleep=1500 still here"}},
            timeout=30)))
        spawn.start()
        time.sleep(0.3)

        keys_file = self.ksid.path("keys.txt")
        with open(keys_file, "w") as f:
            f.write("# reloaded keys\nfile-key-123456\n")
        self.write_config(BASE_CONFIG.format(port=self.port).replace("[sonnet, opus]", "[sonnet, opus, haiku]")
                          .replace("max_concurrent: 4", "max_concurrent: 2")
                          .replace("log_level: info", "log_level: debug")
                          .replace("enabled: true", f"enabled: true\n  api_keys_file: {keys_file}")
                          + "  socket: sockets/other.sock\n")
        self.hup_and_wait("SIGHUP: configuration reloaded")
        log = self.log()
        self.assertRegex(log, r"applied: .*models\.available")
        self.assertRegex(log, r"applied: .*queue\.max_concurrent")
        self.assertRegex(log, r"applied: .*daemon\.log_level")
        self.assertRegex(log, r"kept until a restart: daemon\.socket")
        self.assertEqual(self.get("/v1/models")[0], 401)  # the key file's key is now required
        status, models = self.get("/v1/models", {"Authorization": "Bearer file-key-123456"})
        self.assertEqual((status, [m["id"] for m in models["data"]]), (200, ["sonnet", "opus", "haiku"]))
        status, health = self.get("/health")
        self.assertEqual(health["queue"]["max_concurrent"], 2)
        self.assertTrue(os.path.exists(self.ksid.socket_path))  # still the socket it bound
        self.assertFalse(os.path.exists(self.ksid.path("sockets", "other.sock")))
        self.get("/health")
        time.sleep(0.1)
        self.assertIn("HTTP GET /health 200", self.log())  # probes log at debug level now

        # An invalid file (and a key file that cannot be read) changes nothing.
        self.write_config(BASE_CONFIG.format(port=self.port) + "queue:\n  max_concurrent: [\n")
        self.hup_and_wait("configuration not reloaded, nothing changed")
        self.write_config(BASE_CONFIG.format(port=self.port).replace(
            "enabled: true", "enabled: true\n  api_keys_file: /nonexistent/keys"))
        self.hup_and_wait("configuration not reloaded, nothing changed: HTTP facade")
        self.assertEqual(self.get("/health")[1]["queue"]["max_concurrent"], 2)
        self.assertEqual(self.get("/v1/models", {"Authorization": "Bearer file-key-123456"})[0], 200)

        spawn.join(30)
        self.assertEqual(reply["result"]["result"], "ECHO: FAKE:sleep=1500 still here")
        self.assertEqual(self.health()["status"], "success")
        self.assertEqual(self.ksid.stop(), 0)


class ReloadWithoutFacade(KsidTestCase):
    def test_ksid_control_reload_config(self):
        control = os.path.join(os.environ.get("KSID_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                               "scripts", "ksid-control")
        run = lambda: subprocess.run([control, "reload-config"], cwd=self.ksid.dir, capture_output=True, text=True,
                                     timeout=30)
        out = run()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("SIGHUP: configuration reloaded", out.stdout)
        os.makedirs(self.ksid.path("config"), exist_ok=True)
        with open(self.ksid.path("config", "api_shim.yaml"), "w") as f:
            f.write("queue:\n  max_concurrent: 0\n")
        out = run()
        self.assertEqual(out.returncode, 1)
        self.assertIn("nothing changed", out.stdout)
        self.assertIn("queue.max_concurrent", out.stdout)

    def test_sighup_never_ends_the_daemon(self):
        for _ in range(5):
            self.ksid.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertIsNone(self.ksid.proc.poll())
        self.assertEqual(self.health()["status"], "success")
        self.assertEqual(self.ksid.stop(), 0)


if __name__ == "__main__":
    unittest.main()
