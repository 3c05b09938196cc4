"""Reliability and security checks (issue 9) as one suite: ksid SIGKILLed during state writes, again and
again; children that crash, hang and spew at once; a full disk for the logs; and the security checklist
(path traversal, argv injection, permissions, a facade on a public address without keys, secrets in logs)."""
import glob
import json
import os
import random
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ksid_harness import KSID_BIN, Ksid, KsidTestCase  # noqa: E402


def cmd(name, **params):
    return {"command": name, "version": "2.0", "parameters": params}


def spawn(k, prompt, timeout=60, **extra):
    return k.request(cmd("SPAWN", **dict({"mode": "sync", "prompt": prompt}, **extra)), timeout=timeout)


class SigkillLoop(unittest.TestCase):
    def test_repeated_sigkill_during_state_writes(self):
        """Eight rounds: writers hammer SET_SHARED and identities, ksid is SIGKILLed at a random moment, and
        every state file must parse (old or new value) when it comes back."""
        k = Ksid()
        try:
            for round_ in range(8):
                k.start()
                stop = threading.Event()

                def writer(n):
                    i = 0
                    while not stop.is_set():
                        try:
                            k.request(cmd("SET_SHARED", key=f"k{n}", value={"round": round_, "i": i, "pad": "y" * 30000}),
                                      timeout=2)
                            k.request(cmd("CREATE_IDENTITY", agent_id=f"a{n}-{i % 20}", role="coder"), timeout=2)
                        except (OSError, ValueError):
                            return
                        i += 1

                threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
                for t in threads:
                    t.start()
                time.sleep(0.2 + random.random() * 0.4)
                k.proc.send_signal(signal.SIGKILL)
                k.wait()
                stop.set()
                for t in threads:
                    t.join()
                for path in glob.glob(k.path("shared_state", "*.json")):
                    with open(path) as f:
                        value = json.load(f)  # a torn file raises
                    if os.path.basename(path).startswith("k"):
                        self.assertEqual(value["value"]["pad"], "y" * 30000)
            with open(k.path("shared_state", "k0.json.tmp.99999.7"), "w") as f:
                f.write('{"value": ')  # what a crash mid-write leaves: never read, removed at start
            k.start()  # over the stale socket and PID file
            self.assertEqual(glob.glob(k.path("shared_state", "*.tmp.*")), [])
            self.assertEqual(k.request(cmd("GET_SHARED", key="k0"))["result"]["value"]["pad"], "y" * 30000)
            self.assertGreater(k.request(cmd("LIST_IDENTITIES"))["result"]["count"], 0)
            self.assertEqual(k.stop(), 0)
        finally:
            k.cleanup()


class MisbehavingChildrenTogether(KsidTestCase):
    ksid_env = {"KSID_RUN_TIME_LIMIT": "1", "KSID_KILL_GRACE": "0.3", "KSID_MAX_OUTPUT_BYTES": "1MiB",
                "KSID_MAX_CONCURRENT": "6"}

    def test_crash_hang_spew_at_once(self):
        prompts = ["FAKE:crash", "FAKE:hang", "FAKE:hang-ignore-term", "FAKE:huge", "FAKE:grandchild", "FAKE:invalid",
                   "ok"] * 3
        results = {}

        def run(i, p):
            results[i] = spawn(self.ksid, p, timeout=30)

        threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(prompts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), len(prompts))
        for i, p in enumerate(prompts):
            r = results[i]
            self.assertEqual(r["status"], "success", r)  # SPAWN answers; the failure is in the result
            if p in ("ok", "FAKE:grandchild"):  # the grandchild is killed with the group once claude exits
                self.assertEqual(r["result"]["result"], "ECHO: " + p)
            else:
                self.assertIn("error", r["result"], p)
        time.sleep(0.5)
        self.assertEqual(self.ksid.zombie_children(), [])
        self.assertEqual(self.ksid.processes_with_marker(), [])
        self.assertEqual(self.health()["status"], "success")


class FullDisk(KsidTestCase):
    """claude_logs/ and logs/ on a 1 MiB tmpfs: when it fills, SPAWN says so and ksid keeps serving."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root (CI runs as root)")
        self.mounts = []
        base = tempfile.mkdtemp(prefix="ksid-fulldisk-")
        self.workdir = base
        for sub in ("claude_logs", "logs"):
            path = os.path.join(base, sub)
            os.makedirs(path)
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", path], capture_output=True)
            if r.returncode != 0:
                self.tearDownMounts()
                self.skipTest("cannot mount a tmpfs here: " + r.stderr.decode().strip())
            self.mounts.append(path)
        self.ksid = Ksid(workdir=base).start()

    def tearDownMounts(self):
        for path in self.mounts:
            subprocess.run(["umount", "-l", path], capture_output=True)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.tearDownMounts()
            subprocess.run(["rm", "-rf", self.workdir])

    def test_full_log_disk(self):
        filler = os.path.join(self.workdir, "claude_logs", "filler")
        with open(filler, "wb") as f:
            try:
                f.write(b"x" * (2 << 20))
            except OSError:
                pass
        r = spawn(self.ksid, "no room")
        self.assertIn("No space left on device", r["result"]["error"], r)
        self.assertEqual(self.health()["status"], "success")
        self.assertEqual(self.ksid.request(cmd("SET_SHARED", key="still", value=1))["status"], "success")
        os.unlink(filler)  # space again: everything works as before
        r = spawn(self.ksid, "room again")
        self.assertEqual(r["result"]["result"], "ECHO: room again")
        with open(self.ksid.path("claude_logs", r["result"]["session_id"] + ".jsonl")) as f:
            self.assertEqual(len(f.read().splitlines()), 2)


class SecurityChecklist(KsidTestCase):
    ksid_env = {"KSID_API_SHIM_API_KEY": "upstream-key-SECRET-123"}
    ksid_config = "daemon:\n  max_offline_bytes: 4KiB\n"

    def test_path_traversal_is_refused(self):
        for key in ("../escape", "/etc/passwd", "a/../../b", ".."):
            self.assertEqual(self.ksid.request(cmd("SET_SHARED", key=key, value=1))["error"]["code"], "INVALID_KEY")
            self.assertEqual(self.ksid.request(cmd("GET_SHARED", key=key))["error"]["code"], "INVALID_KEY")
        for sid in ("../../etc/passwd", "/etc/passwd", "a/b", "..", "x" * 300):
            r = spawn(self.ksid, "x", session_id=sid)
            self.assertEqual((r["status"], r["error"]["code"]), ("error", "INVALID_PARAMETER"), sid)
        r = spawn(self.ksid, "FAKE:badsession")  # claude itself reports a session id that is a path
        self.assertFalse(os.path.exists(self.ksid.path("etc")))
        self.assertEqual([p for p in os.listdir(self.ksid.path("claude_logs")) if "passwd" in p], [])
        for name in ("../../../etc/passwd", "/etc/passwd", "..%2f..%2fetc%2fpasswd"):
            r = self.ksid.request({"command": "GET_COMPOSITION", "version": "2.0", "parameters": {"name": name}})
            self.assertEqual(r["status"], "error", name)
            self.assertNotIn("root:", json.dumps(r))
            r = self.ksid.request(cmd("COMPOSE_PROMPT", composition=name, context={}))
            self.assertEqual(r["status"], "error", name)
            self.assertNotIn("root:", json.dumps(r))

    def test_argv_injection_is_refused(self):
        for model in ("--dangerously-skip-permissions", "-p", "sonnet --x", "a\nb", ""):
            r = spawn(self.ksid, "x", model=model)
            self.assertEqual(r["error"]["code"], "INVALID_PARAMETER", model)
        for sid in ("--dangerously-skip-permissions", "-x"):
            r = spawn(self.ksid, "x", session_id=sid)
            self.assertEqual(r["error"]["code"], "INVALID_PARAMETER", sid)
        # The prompt goes on stdin, never argv, whatever it says.
        r = spawn(self.ksid, "--dangerously-skip-permissions --help", enable_tools="yes please")
        argv = r["result"]["argv"]
        self.assertNotIn("--dangerously-skip-permissions", argv)
        self.assertNotIn("--help", argv)
        self.assertEqual(argv[argv.index("--allowedTools") + 1],
                         "Task Bash Glob Grep LS Read Edit MultiEdit Write WebFetch WebSearch")  # the fixed legacy list

    def test_socket_and_file_permissions(self):
        mode = stat.S_IMODE(os.stat(self.ksid.socket_path).st_mode)
        self.assertEqual(mode, 0o600)
        spawn(self.ksid, "make some files")
        self.ksid.request(cmd("SET_SHARED", key="perm", value=1))
        for path in glob.glob(self.ksid.path("claude_logs", "*.jsonl")) + glob.glob(self.ksid.path("shared_state", "*")):
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o002, 0, path)  # never world-writable

    def test_public_facade_without_keys_refuses_to_start(self):
        for host in ("0.0.0.0", "::"):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            k = Ksid(env={"KSID_FACADE_ENABLED": "true", "KSID_FACADE_HOST": host, "KSID_FACADE_PORT": str(port)})
            try:
                k.start(wait=False)
                self.assertEqual(k.wait(10), 1)
                self.assertIn("without API keys", k.stderr())
                self.assertFalse(os.path.exists(k.socket_path))
            finally:
                k.cleanup()

    def test_secrets_never_in_logs_or_printed_config(self):
        out = subprocess.run([KSID_BIN, "--print-config"], env=dict(os.environ, KSID_API_KEYS="facade-key-SECRET-456",
                                                                     KSID_API_SHIM_API_KEY="upstream-key-SECRET-123"),
                             capture_output=True, text=True, cwd=self.ksid.dir)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("SECRET", out.stdout + out.stderr)
        self.assertIn("<redacted>", out.stdout)
        spawn(self.ksid, "x")
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertNotIn("SECRET", f.read())
        self.assertNotIn("SECRET", self.ksid.stderr())

    def test_client_values_cannot_forge_log_lines_or_send_terminal_escapes(self):
        forged = "2026-01-01 00:00:00,000 - daemon - CRITICAL - forged"
        evil = "mod\n" + forged + "\r\x1b[31m\x1b]0;title\x07\u009b31m"
        r = self.ksid.request(cmd("RELOAD", module_name=evil))
        self.assertEqual(r["result"]["module"], evil)  # the reply keeps the value as sent
        self.ksid.request(cmd("RELOAD", module_name={"k\n" + forged: "\x1b[2J"}))
        # A message target that is logged when its offline queue overflows
        self.ksid.request(cmd("PUBLISH", from_agent="a", event_type="DIRECT_MESSAGE",
                              payload={"to": "t\n" + forged + "\x1b[31m", "body": "x" * 2048}))
        for _ in range(3):
            self.ksid.request(cmd("PUBLISH", from_agent="a", event_type="DIRECT_MESSAGE",
                                  payload={"to": "t\n" + forged + "\x1b[31m", "body": "x" * 2048}))
        self.health()
        with open(self.ksid.path("logs", "daemon.log"), "rb") as f:
            log = f.read()
        for text in (log, self.ksid.stderr().encode()):
            for byte in [b for b in range(32) if b != 10] + [0x7f]:
                self.assertNotIn(bytes([byte]), text, f"raw control byte {byte:#x} in the log")
            self.assertNotIn("\u009b".encode(), text)
            for line in text.decode().splitlines():
                self.assertFalse(line.startswith("2026-01-01 00:00:00,000"), "a forged line: " + line)
        self.assertIn(b"RELOAD: 'mod\\n" + forged.encode() + b"\\r\\x1b[31m\\x1b]0;title\\x07\\u009b31m'", log)
        self.assertIn(b"Offline queue of t\\n" + forged.encode() + b"\\x1b[31m", log)


if __name__ == "__main__":
    unittest.main()
