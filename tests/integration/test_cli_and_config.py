"""The command line, configuration loading and environment overrides, as a user meets them."""
import os
import shutil
import subprocess
import tempfile
import unittest

from ksid_harness import KSID_BIN, SOURCE_DIR, Ksid


def run(args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items()
                if not (k.startswith("KSID_") or k in ("USE_CLAUDE_API_SHIM", "CLAUDE_API_BASE", "DRAMATIQ_BROKER"))}
    full_env.update(env or {})
    return subprocess.run([KSID_BIN] + args, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=30)


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksid-cli-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_help_and_version(self):
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        for opt in ("--socket", "--hot-reload-from", "--config", "--log-level", "--print-config"):
            self.assertIn(opt, r.stdout)
        r = run(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^ksid \d+\.\d+\.\d+\n$")

    def test_bad_arguments_exit_2_with_usage(self):
        for args in (["--bogus"], ["--socket"], ["--log-level", "loud"], ["--version=1"]):
            r = run(args, cwd=self.dir)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("ksid:", r.stderr)
        self.assertEqual(os.listdir(self.dir), [])  # nothing created

    def test_print_config_shows_defaults_and_touches_nothing(self):
        r = run(["--print-config"], cwd=self.dir)
        self.assertEqual(r.returncode, 0)
        self.assertIn("api_shim:\n  enabled: false\n", r.stdout)
        self.assertIn('  socket: "sockets/claude_daemon.sock"\n', r.stdout)
        self.assertIn("  run_time_limit: 300\n", r.stdout)
        self.assertEqual(os.listdir(self.dir), [])

    def test_shipped_config_is_picked_up_from_the_working_directory(self):
        os.makedirs(os.path.join(self.dir, "config"))
        shutil.copy(os.path.join(SOURCE_DIR, "config", "api_shim.yaml"), os.path.join(self.dir, "config"))
        r = run(["--print-config"], cwd=self.dir)
        self.assertEqual(r.returncode, 0)
        self.assertIn("source: config/api_shim.yaml", r.stdout)

    def test_environment_beats_the_file_in_both_directions(self):
        cfg = os.path.join(self.dir, "on.yaml")
        with open(cfg, "w") as f:
            f.write("api_shim:\n  enabled: true\n")
        r = run(["--config", cfg, "--print-config"], env={"USE_CLAUDE_API_SHIM": "false"})
        self.assertIn("api_shim:\n  enabled: false\n", r.stdout)
        r = run(["--print-config"], env={"USE_CLAUDE_API_SHIM": "true", "CLAUDE_API_BASE": "http://127.0.0.1:9/v1"})
        self.assertIn("api_shim:\n  enabled: true\n", r.stdout)
        self.assertIn('base_url: "http://127.0.0.1:9/v1"', r.stdout)
        r = run(["--print-config"], env={"KSID_CONFIG": cfg})
        self.assertIn("api_shim:\n  enabled: true\n", r.stdout)

    def test_secrets_are_not_printed(self):
        r = run(["--print-config"], env={"KSID_API_KEYS": "top-secret-key", "KSID_API_SHIM_API_KEY": "other-secret"})
        self.assertEqual(r.returncode, 0)
        self.assertNotIn("secret", r.stdout)

    def test_bad_configuration_is_a_startup_error_naming_key_and_line(self):
        cfg = os.path.join(self.dir, "bad.yaml")
        with open(cfg, "w") as f:
            f.write("queue:\n  max_concurrent: 4\n  max_pending: many\n")
        r = run(["--config", cfg], cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.yaml:3", r.stderr)
        self.assertIn("queue.max_pending", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "sockets")))  # never half-started

    def test_bad_environment_value_is_a_startup_error(self):
        r = run([], env={"USE_CLAUDE_API_SHIM": "perhaps"}, cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("USE_CLAUDE_API_SHIM", r.stderr)

    def test_missing_config_file_is_an_error(self):
        r = run(["--config", "/nonexistent.yaml"], cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent.yaml", r.stderr)

    def test_broker_settings_come_from_queue_broker_dramatiq_and_the_environment(self):
        def broker(args, env=None):
            r = run(args + ["--print-config"], env=env, cwd=self.dir)
            self.assertEqual(r.returncode, 0, r.stderr)
            section = None
            for line in r.stdout.splitlines():
                if line and not line.startswith(" "):
                    section = line.rstrip(":")
                elif section == "queue" and line.strip().startswith("broker:"):
                    return line.split(":", 1)[1].strip()
            self.fail("no queue.broker in --print-config")
        cfg = os.path.join(self.dir, "b.yaml")
        with open(cfg, "w") as f:
            f.write("dramatiq:\n  broker: redis://10.0.0.5:6379/1\n")
        # KSI's own api_shim.yaml has a dramatiq section: alone it keeps the in-process queue
        self.assertIn(broker(["--config", cfg]), ('""', "''"))
        self.assertEqual(broker(["--config", cfg], {"KSID_QUEUE_BROKER": "dramatiq"}), '"redis://10.0.0.5:6379/1"')
        self.assertEqual(broker(["--config", cfg], {"DRAMATIQ_BROKER": "redis://h:7000/0"}), '"redis://h:7000/0"')
        # a password in the URL is never printed
        shown = broker([], {"KSID_QUEUE_BROKER": "redis://:hunter2@h:7000/0"})
        self.assertNotIn("hunter2", shown)
        for bad in ("http://h", "rediss://h:6380", "redis://h:0", "redis://h/x"):
            r = run(["--print-config"], env={"KSID_QUEUE_BROKER": bad}, cwd=self.dir)
            self.assertEqual(r.returncode, 1, bad)
            self.assertIn("queue.broker", r.stderr)
        # a worker needs a broker
        r = run(["--worker"], cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--worker needs a broker", r.stderr)

    def test_dramatiq_keys_are_accepted_and_ignored_with_a_notice(self):
        k = Ksid(config="dramatiq:\n  broker: redis://localhost:6379\n  queue_name: q\n")
        try:
            k.start()
            self.assertIn("dramatiq settings are accepted; the job queue stays in-process", k.stderr())
            self.assertEqual(k.stop(), 0)
        finally:
            k.cleanup()

    def test_custom_socket_and_log_level(self):
        k = Ksid(args=["--socket", "custom/ksid.sock", "--log-level", "debug"])
        try:
            k.start()
            self.assertTrue(os.path.exists(k.path("custom", "ksid.sock")))
            self.assertEqual(k.stop(), 0)
            self.assertFalse(os.path.exists(k.path("custom", "ksid.sock")))
        finally:
            k.cleanup()

    def test_socket_mode_is_configurable(self):
        k = Ksid(env={"KSID_SOCKET_MODE": "0660"})
        try:
            k.start()
            self.assertEqual(os.stat(k.socket_path).st_mode & 0o777, 0o660)
            self.assertEqual(k.stop(), 0)
        finally:
            k.cleanup()


if __name__ == "__main__":
    unittest.main()
