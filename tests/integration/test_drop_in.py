"""The drop-in path for a KSI checkout: scripts/ksid-control and the daemon.py launcher."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from ksid_harness import KSID_BIN, SOURCE_DIR, read_all

CONTROL = os.path.join(SOURCE_DIR, "scripts", "ksid-control")


class DropIn(unittest.TestCase):
    def setUp(self):
        self.ksi = tempfile.mkdtemp(prefix="ksi-project-")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KSID_") or k == "KSID_BIN"}
        self.env["KSID_BIN"] = KSID_BIN

    def tearDown(self):
        subprocess.run([CONTROL, "stop"], cwd=self.ksi, env=self.env, capture_output=True, timeout=30)
        shutil.rmtree(self.ksi, ignore_errors=True)

    def control(self, *args):
        return subprocess.run([CONTROL, *args], cwd=self.ksi, env=self.env, capture_output=True, text=True,
                              timeout=30)

    def test_control_script_start_status_health_logs_restart_stop(self):
        r = self.control("status")
        self.assertEqual(r.returncode, 3)
        self.assertIn("not running", r.stdout)
        r = self.control("start")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.ksi, "sockets", "claude_daemon.pid")) as f:
            pid = int(f.read())
        self.assertIn(f"running (PID {pid})", self.control("status").stdout)
        self.assert_found_as_daemon_py(pid, ["daemon.py"])  # as daemon_control.sh started `python3 daemon.py`
        r = self.control("health")
        self.assertEqual(r.returncode, 0)
        self.assertIn("ksid is healthy", r.stdout)
        self.assertIn("already running", self.control("start").stdout)
        self.assertIn("Modular daemon listening on", self.control("logs", "--no-follow").stdout)
        self.assertEqual(self.control("restart").returncode, 0)
        with open(os.path.join(self.ksi, "sockets", "claude_daemon.pid")) as f:
            restarted = int(f.read())
        self.assertNotEqual(restarted, pid)
        # reload: the upgrade in place; the new process still names daemon.py (its argv is the old one's).
        r = self.control("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.ksi, "sockets", "claude_daemon.pid")) as f:
            reloaded = int(f.read())
        self.assertIn(f"ksid reloaded: PID {restarted} handed over to PID {reloaded}", r.stdout)
        self.assert_found_as_daemon_py(reloaded, ["daemon.py"])
        self.assertIn("ksid is healthy", self.control("health").stdout)
        start = time.monotonic()
        r = self.control("stop")
        self.assertEqual(r.returncode, 0)
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn("not running", self.control("status").stdout)

    def test_start_reports_a_failure(self):
        os.makedirs(os.path.join(self.ksi, "config"))
        with open(os.path.join(self.ksi, "config", "api_shim.yaml"), "w") as f:
            f.write("queue:\n  max_concurrent: zero\n")
        r = self.control("start")
        self.assertEqual(r.returncode, 1)
        self.assertIn("queue.max_concurrent", r.stderr)

    def test_nc_style_client_gets_the_close_after_reply(self):
        self.assertEqual(self.control("start").returncode, 0)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(os.path.join(self.ksi, "sockets", "claude_daemon.sock"))
        s.sendall(b'{"version": "2.0", "command": "HEALTH_CHECK"}\n')  # daemon_control.sh's order, no parameters
        reply = json.loads(read_all(s))  # returns only because the daemon closes
        s.close()
        self.assertEqual(reply["result"]["status"], "healthy")

    def assert_found_as_daemon_py(self, pid, argv):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.assertEqual(f.read().split(b"\0")[:-1], [a.encode() for a in argv])
        self.assertEqual(os.path.realpath(f"/proc/{pid}/exe"), os.path.realpath(KSID_BIN))
        found = subprocess.run(["pgrep", "-f", "daemon.py"], capture_output=True, text=True).stdout.split()
        self.assertIn(str(pid), found)

    def test_daemon_py_launcher_starts_ksid_with_the_same_arguments(self):
        with open(os.path.join(self.ksi, "daemon.py"), "w") as f:
            f.write("print('the legacy python daemon')\n")
        env = dict(self.env)
        env.pop("KSID_BIN")
        r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "install-launcher"), self.ksi], env=env,
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.ksi, "daemon.py.python-legacy")))
        env["KSID_BIN"] = KSID_BIN  # the binary under test (release or sanitizer build)
        proc = subprocess.Popen(["python3", "daemon.py", "--socket", "sockets/launched.sock"], cwd=self.ksi, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            path = os.path.join(self.ksi, "sockets", "launched.sock")
            deadline = time.monotonic() + 10
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(path)
            s.sendall(b'{"command": "HEALTH_CHECK", "version": "2.0"}\n')
            self.assertEqual(json.loads(read_all(s))["result"]["status"], "healthy")
            s.close()
            with open(os.path.join(self.ksi, "sockets", "claude_daemon.pid")) as f:
                self.assertEqual(int(f.read()), proc.pid)  # exec: same process, so the PID file is right
            # Its command line still names daemon.py (KSI's monitor_autonomous.py runs `pgrep -f daemon.py`)
            self.assert_found_as_daemon_py(proc.pid, ["daemon.py", "--socket", "sockets/launched.sock"])
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(10), 0)
        r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "install-launcher"), "--uninstall", self.ksi],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0)
        with open(os.path.join(self.ksi, "daemon.py")) as f:
            self.assertIn("legacy python daemon", f.read())


if __name__ == "__main__":
    unittest.main()
