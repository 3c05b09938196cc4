"""ksid under a service manager, with this test playing systemd's part (no systemd needed): the notify
datagrams (READY once it serves, WATCHDOG from the loop, STOPPING), children that do not inherit systemd's
variables, socket activation (LISTEN_FDS) including connections made before ksid started, and the .deb
that scripts/package builds (its contents; installed and run when root in CI)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from ksid_harness import SOURCE_DIR, free_port, Ksid, read_all, SOCKET  # noqa: E402

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "listen_fds_exec.py")
SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS",
                     "LISTEN_FDNAMES")
HEALTH = (json.dumps({"command": "HEALTH_CHECK", "version": "2.0"}) + "\n").encode()


class NotifySocket:
    """The service manager's end of $NOTIFY_SOCKET: a datagram socket that collects what ksid sends."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []  # (time.monotonic(), text)

    def receive(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        self.messages.append((time.monotonic(), data.decode()))
        return data.decode()

    def wait_for(self, assignment, timeout=15):
        """The first message (from now) holding the line `assignment`, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(max(0.01, deadline - time.monotonic()))
            if message is not None and assignment in message.split("\n"):
                return message
        return None

    def close(self):
        self.sock.close()


def fields(message):
    return dict(line.split("=", 1) for line in message.split("\n") if "=" in line)


class Notify(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksid-systemd-")
        self.notify = NotifySocket(self.dir)
        self.port = free_port()
        self.ksid = Ksid(workdir=self.dir, env={
            "NOTIFY_SOCKET": self.notify.path, "WATCHDOG_USEC": "200000",
            "KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.port)})

    def tearDown(self):
        self.ksid.cleanup()
        self.notify.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_ready_watchdog_children_stopping(self):
        self.ksid.start(wait=False)
        ready = self.notify.wait_for("READY=1")
        self.assertIsNotNone(ready, "no READY=1; stderr:\n" + self.ksid.stderr())
        # READY means serving: the very first request after it is answered, on both transports.
        self.assertEqual(self.ksid.request({"command": "HEALTH_CHECK", "version": "2.0"})["status"], "success")
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertTrue(read_all(s).startswith(b"HTTP/1.1 200"))
        self.assertEqual(fields(ready)["STATUS"],
                         f"serving {SOCKET} and http://127.0.0.1:{self.port}")
        self.assertEqual([m for _, m in self.notify.messages if "READY=1" in m.split("\n")], [ready])

        # WATCHDOG=1 every half of WATCHDOG_USEC (100 ms), from the event loop.
        start = time.monotonic()
        pings = 0
        while time.monotonic() - start < 1.0:
            if self.notify.receive(0.5) == "WATCHDOG=1":
                pings += 1
        self.assertGreaterEqual(pings, 6, self.notify.messages)
        self.assertLessEqual(pings, 14, self.notify.messages)

        # A child (the fake claude, running for a while) sees none of systemd's variables.
        r = self.ksid.request({"command": "SPAWN", "version": "2.0", "parameters": {
            "mode": "async", "type": "claude", "prompt": "FAKE:sleep=3000 environment"}})
        self.assertEqual(r["status"], "success", r)
        children = []
        deadline = time.monotonic() + 10
        while not children and time.monotonic() < deadline:
            children = self.ksid.processes_with_marker()
            time.sleep(0.02)
        self.assertTrue(children, "the spawned claude did not show up")
        with open(f"/proc/{children[0]}/environ", "rb") as f:
            names = {entry.split(b"=", 1)[0].decode() for entry in f.read().split(b"\0") if entry}
        self.assertIn("KSID_TEST_MARKER", names)
        for name in SYSTEMD_VARIABLES:
            self.assertNotIn(name, names)

        # SIGTERM: STOPPING=1 as shutdown begins, then a clean exit.
        self.ksid.proc.send_signal(signal.SIGTERM)
        stopping = self.notify.wait_for("STOPPING=1", timeout=5)
        self.assertIsNotNone(stopping, self.notify.messages)
        self.assertEqual(fields(stopping)["STATUS"], "stopping (SIGTERM)")
        self.assertEqual(self.ksid.wait(), 0, self.ksid.stderr())

    def test_sighup_reload_is_reloading_then_ready(self):
        self.ksid.start(wait=False)
        self.assertIsNotNone(self.notify.wait_for("READY=1"), self.ksid.stderr())
        self.ksid.proc.send_signal(signal.SIGHUP)
        reloading = self.notify.wait_for("RELOADING=1", timeout=5)
        self.assertIsNotNone(reloading, self.notify.messages)
        self.assertGreater(int(fields(reloading)["MONOTONIC_USEC"]), 0)
        ready = self.notify.wait_for("READY=1", timeout=5)  # the reload has ended
        self.assertIsNotNone(ready, self.notify.messages)
        self.assertTrue(fields(ready)["STATUS"].startswith("serving "))
        self.assertEqual(self.ksid.request({"command": "HEALTH_CHECK", "version": "2.0"})["status"], "success")
        self.assertEqual(self.ksid.stop(), 0, self.ksid.stderr())

    def test_reload_daemon_hands_the_service_to_the_new_process(self):
        # RELOAD_DAEMON (test_upgrade.py has the rest): the old process tells the manager the new one is the
        # main process (MAINPID=, which NotifyAccess=main allows the main process) and then says nothing
        # more, not even STOPPING=1; the new one notifies READY=1 and pings the watchdog.
        self.ksid.start(wait=False)
        self.assertIsNotNone(self.notify.wait_for("READY=1"), self.ksid.stderr())
        reply = self.ksid.request({"command": "RELOAD_DAEMON", "version": "2.0"}, timeout=60)
        self.assertEqual(reply["result"], {"status": "reloaded"}, reply)
        with open(self.ksid.path("sockets", "claude_daemon.pid")) as f:
            new_pid = int(f.read())
        self.assertNotEqual(new_pid, self.ksid.proc.pid)
        self.assertEqual(self.ksid.wait(30), 0, self.ksid.stderr())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.notify.receive(0.2)
        texts = [m for _, m in self.notify.messages]
        handed = [i for i, m in enumerate(texts) if f"MAINPID={new_pid}" in m.split("\n")]
        self.assertEqual(len(handed), 1, texts)
        self.assertEqual(fields(texts[handed[0]])["STATUS"], f"handed over to PID {new_pid}")
        readies = [i for i, m in enumerate(texts) if "READY=1" in m.split("\n")]
        self.assertEqual(len(readies), 2, texts)  # the old daemon's first, then the new one's
        self.assertFalse(any("STOPPING=1" in m.split("\n") for m in texts), texts)
        self.assertIn("WATCHDOG=1", texts[max(handed[0], readies[1]) + 1:])  # the new one pings
        os.kill(new_pid, signal.SIGTERM)
        self.assertIsNotNone(self.notify.wait_for("STOPPING=1", timeout=10), self.notify.messages)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{new_pid}") and time.monotonic() < deadline:
            time.sleep(0.05)

    def test_watchdog_of_another_process_is_not_pinged(self):
        self.ksid.env["WATCHDOG_PID"] = "1"
        self.ksid.start(wait=False)
        self.assertIsNotNone(self.notify.wait_for("READY=1"), self.ksid.stderr())
        start = time.monotonic()
        while time.monotonic() - start < 0.5:
            self.notify.receive(0.5)
        self.assertNotIn("WATCHDOG=1", [m for _, m in self.notify.messages])
        self.assertEqual(self.ksid.stop(), 0, self.ksid.stderr())


def listening_unix_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s


def listening_tcp_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


class SocketActivation(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ksid-activation-")
        os.makedirs(os.path.join(self.dir, "sockets"))
        self.port = free_port()
        self.ksid = Ksid(workdir=self.dir, env={"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.port)})
        self.sockets = []

    def tearDown(self):
        self.ksid.cleanup()
        for s in self.sockets:
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_with(self, *passed, names="ksid.socket:ksid.socket"):
        fds = [s.fileno() for s in passed]
        self.ksid.start(wait=False, launcher=[sys.executable, LAUNCHER, ",".join(map(str, fds)), names],
                        pass_fds=fds)

    def test_passed_sockets_serve_connections_made_before_start(self):
        unix = listening_unix_socket(self.ksid.path(SOCKET))
        tcp = listening_tcp_socket(self.port)
        self.sockets += [unix, tcp]
        # Clients that connect while no ksid runs wait in the backlog, as during a restart.
        early_unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        early_unix.settimeout(15)
        early_unix.connect(self.ksid.path(SOCKET))
        early_unix.sendall(HEALTH)
        early_tcp = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        early_tcp.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.start_with(unix, tcp)
        with early_unix:
            self.assertEqual(json.loads(read_all(early_unix))["status"], "success", self.ksid.stderr())
        with early_tcp:
            self.assertTrue(read_all(early_tcp).startswith(b"HTTP/1.1 200"), self.ksid.stderr())
        self.ksid.wait_healthy()
        log = self.ksid.stderr()
        self.assertIn("socket activation: the legacy socket on the passed fd 3 (ksid.socket) AF_UNIX", log)
        self.assertIn(f"socket activation: the HTTP facade on the passed fd 4 (ksid.socket) AF_INET "
                      f"127.0.0.1:{self.port}", log)
        self.assertEqual(self.ksid.stop(), 0, self.ksid.stderr())
        # The socket is the unit's: it stays for the next start, and so does what waits on it.
        self.assertTrue(os.path.exists(self.ksid.path(SOCKET)))
        self.assertFalse(os.path.exists(self.ksid.path("sockets/claude_daemon.pid")))
        late = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        late.connect(self.ksid.path(SOCKET))
        late.close()

    def test_only_the_unix_socket_passed_the_facade_binds(self):
        unix = listening_unix_socket(self.ksid.path(SOCKET))
        self.sockets.append(unix)
        self.start_with(unix, names="ksid.socket")
        self.ksid.wait_healthy()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertTrue(read_all(s).startswith(b"HTTP/1.1 200"))
        self.assertEqual(self.ksid.stop(), 0, self.ksid.stderr())

    def test_a_socket_that_matches_nothing_is_refused(self):
        other = listening_unix_socket(self.ksid.path("other.sock"))
        self.sockets.append(other)
        self.start_with(other, names="other")
        self.assertEqual(self.ksid.wait(), 1)
        err = self.ksid.stderr()
        self.assertIn("socket activation: the passed socket fd 3 (other) AF_UNIX", err)
        self.assertIn("matches nothing ksid serves", err)
        self.assertFalse(os.path.exists(self.ksid.path(SOCKET)))

    def test_a_tcp_socket_on_another_port_is_refused(self):
        tcp = listening_tcp_socket(free_port())
        self.sockets.append(tcp)
        self.start_with(tcp, names="http")
        self.assertEqual(self.ksid.wait(), 1)
        self.assertIn("matches nothing ksid serves", self.ksid.stderr())

    def test_listen_fds_for_another_process_are_ignored(self):
        self.ksid.env.update({"LISTEN_PID": "1", "LISTEN_FDS": "1"})
        self.ksid.start()
        self.assertNotIn("socket activation", self.ksid.stderr())
        self.assertEqual(self.ksid.stop(), 0, self.ksid.stderr())


def unit_settings(path):
    """A unit file's settings: {(section, key): [values]} (keys repeat, e.g. ListenStream)."""
    settings, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, value = line.split("=", 1)
            settings.setdefault((section, key), []).append(value)
    return settings


class Units(unittest.TestCase):
    """The units in packaging/systemd agree with ksid: notify, reload, the paths and the port it serves."""

    UNITS = os.path.join(SOURCE_DIR, "packaging", "systemd")

    def test_system_service_and_socket(self):
        service = unit_settings(os.path.join(self.UNITS, "ksid.service"))
        socket_unit = unit_settings(os.path.join(self.UNITS, "ksid.socket"))
        get = lambda unit, key: unit.get(key, [None])[-1]  # noqa: E731
        self.assertEqual(get(service, ("Service", "Type")), "notify")
        self.assertEqual(get(service, ("Service", "ExecStart")), "/usr/bin/ksid")
        self.assertEqual(get(service, ("Service", "ExecReload")), "/bin/kill -HUP $MAINPID")
        self.assertEqual(get(service, ("Service", "WatchdogSec")), "30")
        environment = service[("Service", "Environment")]
        self.assertIn("HOME=/var/lib/ksid", environment)
        self.assertIn("KSID_CONFIG=/etc/ksid/api_shim.yaml", environment)
        workdir = get(service, ("Service", "WorkingDirectory"))
        self.assertEqual(workdir, "/var/lib/ksid")
        # The socket unit listens where ksid, started in WorkingDirectory with the shipped configuration,
        # would: otherwise ksid refuses the passed socket.
        listen = socket_unit[("Socket", "ListenStream")]
        self.assertEqual(listen, [os.path.join(workdir, SOCKET), "127.0.0.1:8000"])
        self.assertEqual(get(socket_unit, ("Socket", "Service")), "ksid.service")
        user = unit_settings(os.path.join(self.UNITS, "user", "ksid.service"))
        self.assertEqual(get(user, ("Service", "Type")), "notify")
        self.assertEqual(get(user, ("Service", "WorkingDirectory")), "%h/ksi")

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_analyze_verify(self):
        with tempfile.TemporaryDirectory() as d:
            # ExecStart must exist for verify; the unit itself is checked as shipped otherwise.
            for name in ("ksid.service", "ksid.socket"):
                with open(os.path.join(self.UNITS, name)) as f, open(os.path.join(d, name), "w") as out:
                    out.write(f.read().replace("/usr/bin/ksid", "/bin/true"))
            r = subprocess.run(["systemd-analyze", "verify", os.path.join(d, "ksid.service"),
                                os.path.join(d, "ksid.socket")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(r.returncode, 0, r.stdout.decode())
            self.assertEqual(r.stdout.decode().strip(), "")


@unittest.skipUnless(shutil.which("dpkg-deb"), "dpkg-deb is not installed")
class DebianPackage(unittest.TestCase):
    """scripts/package builds build/package/ksid_*.deb; in CI (root) it is installed, run and purged."""

    installed = False

    @classmethod
    def setUpClass(cls):
        result = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "package")], cwd=SOURCE_DIR,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        if result.returncode != 0:
            raise AssertionError("scripts/package failed:\n" + result.stdout.decode(errors="replace")[-4000:])
        out = os.path.join(SOURCE_DIR, "build", "package")
        debs = sorted(f for f in os.listdir(out) if f.endswith(".deb"))
        assert debs, "scripts/package made no .deb"
        cls.deb = os.path.join(out, debs[-1])

    def dpkg_deb(self, option, *args):
        return subprocess.run(["dpkg-deb", option, self.deb, *args], stdout=subprocess.PIPE,
                              check=True).stdout.decode()

    def test_contents_and_dependencies(self):
        listing = self.dpkg_deb("--contents")
        for path in ("./usr/bin/ksid", "./usr/bin/ksid-control", "./lib/systemd/system/ksid.service",
                     "./lib/systemd/system/ksid.socket", "./usr/lib/systemd/user/ksid.service",
                     "./etc/ksid/api_shim.yaml", "./usr/lib/sysusers.d/ksid.conf"):
            self.assertIn(path, listing)
        self.assertEqual(self.dpkg_deb("--field", "Package").strip(), "ksid")
        depends = self.dpkg_deb("--field", "Depends").strip()
        self.assertTrue(depends)
        for library in ("libboost-json1.81.0", "libyaml-cpp0.7", "libssl3", "libhiredis0.14"):
            self.assertIn(library, depends)
        with tempfile.TemporaryDirectory() as control:
            subprocess.run(["dpkg-deb", "--control", self.deb, control], check=True)
            with open(os.path.join(control, "conffiles")) as f:
                self.assertIn("/etc/ksid/api_shim.yaml", f.read().split())
        with tempfile.TemporaryDirectory() as tree:
            subprocess.run(["dpkg-deb", "--extract", self.deb, tree], check=True)
            with open(os.path.join(tree, "lib/systemd/system/ksid.service")) as f:
                unit = f.read()
            self.assertIn("Environment=KSID_CONFIG=/etc/ksid/api_shim.yaml", unit)
            with open(os.path.join(tree, "etc/ksid/api_shim.yaml")) as f, \
                    open(os.path.join(SOURCE_DIR, "config", "api_shim.yaml")) as shipped:
                self.assertEqual(f.read(), shipped.read())

    @unittest.skipUnless(os.environ.get("CI") and os.geteuid() == 0, "installs only as root in CI")
    def test_install_run_purge(self):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        type(self).installed = True
        if subprocess.run(["dpkg", "-i", self.deb], env=env, stdin=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "-f", "install", "-y", "-qq"], env=env, stdin=subprocess.DEVNULL,
                           check=True, timeout=120)
        version = subprocess.run(["/usr/bin/ksid", "--version"], stdout=subprocess.PIPE, check=True)
        self.assertTrue(version.stdout.startswith(b"ksid "))
        # The installed configuration is the one the system unit names, and it loads.
        config = subprocess.run(["/usr/bin/ksid", "--print-config"], stdout=subprocess.PIPE, check=True,
                                env=dict(env, KSID_CONFIG="/etc/ksid/api_shim.yaml"), cwd="/tmp")
        self.assertIn(b"/etc/ksid/api_shim.yaml", config.stdout)
        self.assertEqual(subprocess.run(["getent", "passwd", "ksid"], stdout=subprocess.DEVNULL).returncode, 0)
        self.run_as_the_service()

    def run_as_the_service(self):
        """What ksid.service does, without systemd: the installed binary as the ksid user, with the installed
        configuration and a notify socket; it must report READY=1, serve, and stop on SIGTERM."""
        with tempfile.TemporaryDirectory() as state:
            notify = NotifySocket(state)
            os.chmod(notify.path, 0o666)
            subprocess.run(["chown", "-R", "ksid:ksid", state], check=True)
            env = {"PATH": "/usr/bin:/bin", "HOME": state, "KSID_CONFIG": "/etc/ksid/api_shim.yaml",
                   "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "30000000"}
            # setpriv execs ksid in place (the pid is ksid's, as under systemd), as User=/Group= do.
            stderr = open(os.path.join(state, "stderr.log"), "w+b")
            proc = subprocess.Popen(["setpriv", "--reuid=ksid", "--regid=ksid", "--init-groups", "/usr/bin/ksid"],
                                    cwd=state, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=stderr)
            try:
                ready = notify.wait_for("READY=1", timeout=15)
                self.assertIsNotNone(ready, "the installed ksid sent no READY=1")
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(5)
                    s.connect(os.path.join(state, SOCKET))
                    s.sendall(HEALTH)
                    self.assertEqual(json.loads(read_all(s))["status"], "success")
                proc.send_signal(signal.SIGTERM)
                self.assertIsNotNone(notify.wait_for("STOPPING=1", timeout=5))
                code = proc.wait(10)
                stderr.seek(0)
                self.assertEqual(code, 0, stderr.read().decode(errors="replace"))
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                stderr.close()
                notify.close()

    def tearDown(self):
        if type(self).installed:
            type(self).installed = False
            subprocess.run(["dpkg", "--purge", "ksid"], stdin=subprocess.DEVNULL,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


if __name__ == "__main__":
    unittest.main()
