"""Starts the real ksid binary in a temporary directory and talks to it over its Unix socket.

Standard library only, like KSI's own clients. KSID_BIN names the binary (CTest sets it).
"""
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

KSID_BIN = os.environ.get("KSID_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "release", "ksid")
SOURCE_DIR = os.environ.get("KSID_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
FAKE_CLAUDE_DIR = os.environ.get("KSID_FAKE_CLAUDE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "release", "fake-bin")
# Under AddressSanitizer freed memory sits in its quarantine: RSS then says little about what ksid holds.
SANITIZED = "/asan/" in os.path.realpath(KSID_BIN)
SOCKET = "sockets/claude_daemon.sock"
PID_FILE = "sockets/claude_daemon.pid"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Ksid:
    """One ksid process in its own working directory."""

    def __init__(self, workdir=None, args=(), env=None, config=None, fake_claude=True, fd_limit=None):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="ksid-test-")
        self.args = list(args)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("KSID_") and k not in ("KSID_BIN", "KSID_SOURCE_DIR"):
                del self.env[k]
        self.env.pop("USE_CLAUDE_API_SHIM", None)
        self.env.pop("CLAUDE_API_BASE", None)
        self.env.pop("DRAMATIQ_BROKER", None)  # would put the queue on a broker (issue 18); tests name theirs
        if fake_claude:
            self.env["PATH"] = os.path.abspath(FAKE_CLAUDE_DIR) + os.pathsep + self.env.get("PATH", "")
        # Every process started under this daemon inherits the marker, so tests can find leftovers.
        self.marker = "ksid-test-" + os.urandom(6).hex()
        self.env["KSID_TEST_MARKER"] = self.marker
        self.env.update(env or {})
        if config is not None:
            path = os.path.join(self.dir, "test-config.yaml")
            with open(path, "w") as f:
                f.write(config)
            self.args = ["--config", path] + self.args
        self.fd_limit = fd_limit  # (soft, hard) RLIMIT_NOFILE for ksid, as `ulimit -n` would set it
        self.proc = None
        self.binary = KSID_BIN  # a test may start a copy (test_upgrade replaces it on disk)
        self.stderr_path = os.path.join(self.dir, "ksid-stderr.log")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def socket_path(self):
        if "--socket" in self.args:
            return os.path.join(self.dir, self.args[self.args.index("--socket") + 1])
        return self.path(SOCKET)

    def start(self, wait=True, launcher=(), pass_fds=()):
        """launcher: argv put before ksid's (a program that execs the rest, as test_systemd's does)."""
        self.stderr_file = open(self.stderr_path, "ab")
        limit = self.fd_limit
        self.proc = subprocess.Popen(list(launcher) + [self.binary] + self.args, cwd=self.dir, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr_file, pass_fds=pass_fds,
                                     preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit))
                                     if limit else None)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ksid exited with {self.proc.returncode}: {self.stderr()}")
            try:
                if self.request({"command": "HEALTH_CHECK", "version": "2.0"})["status"] == "success":
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        raise AssertionError("ksid did not become healthy: " + self.stderr())

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def connect(self, timeout=10):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.socket_path)
        except OSError:
            s.close()
            raise
        return s

    def exchange(self, data, timeout=10):
        """Sends raw bytes on a new connection and returns everything read until the daemon closes it."""
        with self.connect(timeout) as s:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon closed early (over-long line): read what it said, if anything
            return read_all(s)

    def request(self, obj, timeout=10):
        reply = self.exchange((json.dumps(obj) + "\n").encode(), timeout)
        return json.loads(reply)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout=10):
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("ksid did not exit in time")
        self.stderr_file.close()
        return code

    def processes_with_marker(self):
        """PIDs of live (non-zombie) processes that carry this daemon's marker, other than ksid itself."""
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or (self.proc and int(pid) == self.proc.pid):
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if self.marker.encode() not in f.read():
                        continue
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue
                found.append(int(pid))
            except OSError:
                pass
        return found

    def zombie_children(self):
        zombies = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if fields[0] == "Z" and int(fields[1]) == self.proc.pid:
                    zombies.append(int(pid))
            except OSError:
                pass
        return zombies

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def read_all(s):
    """Everything until the daemon closes. A reset counts as a close: closing a socket with unread input
    resets the peer (ksid avoids it for over-long lines, but a client that sends on after that, or one that
    was dropped, may still see one)."""
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def wait_until(predicate, timeout=5, interval=0.05):
    """True once predicate() is, False when `timeout` seconds passed first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def assert_disconnect_stops_the_run(test, k, port, path, body):
    """POSTs `body` (a dict) to `path` on a raw connection, waits for k's claude run to start, closes the
    connection and asserts that the run's processes are gone within 5 s."""
    import json as _json
    s = socket.create_connection(("127.0.0.1", port))
    data = _json.dumps(body).encode()
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    test.assertTrue(wait_until(k.processes_with_marker), "the run never started")
    s.close()
    test.assertTrue(wait_until(lambda: not k.processes_with_marker()), f"the run outlived its client: {body}")


class KsidTestCase(unittest.TestCase):
    """Starts one ksid per test; fails the test if the daemon crashed or a sanitizer spoke."""

    ksid_args = ()
    ksid_env = None
    ksid_config = None

    def setUp(self):
        self.ksid = Ksid(args=self.ksid_args, env=self.ksid_env, config=self.ksid_config).start()

    def tearDown(self):
        try:
            if self.ksid.proc.poll() is None:
                # A child killed just now is a zombie until the loop's pidfd wait reaps it: only one that
                # stays unreaped is a leak.
                wait_until(lambda: not self.ksid.zombie_children(), timeout=3)
                self.assertEqual(self.ksid.zombie_children(), [], "zombie children of ksid")
                code = self.ksid.stop()
                self.assertEqual(code, 0, "ksid exit status; stderr:\n" + self.ksid.stderr())
            self.assert_no_sanitizer_report(self.ksid)
            self.assertEqual(self.ksid.processes_with_marker(), [], "processes left running after ksid stopped")
        finally:
            self.ksid.cleanup()

    def assert_no_sanitizer_report(self, k):
        err = k.stderr()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
            self.assertNotIn(marker, err, "sanitizer report in ksid's stderr:\n" + err)

    def health(self):
        return self.ksid.request({"command": "HEALTH_CHECK", "version": "2.0"})
