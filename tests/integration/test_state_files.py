"""ksid's state files are never lost (spec §5.12-5.19, §9.4-9.5 and README "State files are never overwritten
unread"): numbers that would not read back are refused, a file ksid cannot use is kept aside instead of
overwritten, and names that would land on ksid's own files are refused."""
import json
import os
import re
import stat
import threading
import time
import unittest

from ksid_harness import SANITIZED, Ksid, KsidTestCase, rss_kib


def cmd(name, **params):
    return {"command": name, "version": "2.0", "parameters": params}


def strict_json(text):
    """json.loads without Python's NaN/Infinity extension: what ksid's own loader accepts."""
    def refuse(name):
        raise ValueError("not JSON: " + name)
    return json.loads(text, parse_constant=refuse)


class Numbers(KsidTestCase):
    """A number ksid cannot hold as sent is refused, never stored altered (1e309 as Infinity made
    identities.json unreadable at the next start, which then overwrote it)."""

    def raw_request(self, line):
        return json.loads(self.ksid.exchange(line.encode() + b"\n"))

    def test_unrepresentable_numbers_are_refused_and_nothing_is_written(self):
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="keep-me"))
        with open(self.ksid.path("shared_state", "identities.json")) as f:
            identities = f.read()
        big = "123456789012345678901234567890"
        for line in (
                '{"command": "SET_SHARED", "version": "2.0", "parameters": {"key": "n", "value": 1e309}}',
                '{"command": "SET_SHARED", "version": "2.0", "parameters": {"key": "n", "value": [-1E400]}}',
                '{"command": "SET_SHARED", "version": "2.0", "parameters": {"key": "n", "value": %s}}' % big,
                '{"command": "CREATE_IDENTITY", "version": "2.0", "parameters": {"agent_id": "x", '
                '"personality_traits": [1e309]}}',
                '{"command": "UPDATE_IDENTITY", "version": "2.0", "parameters": {"agent_id": "keep-me", '
                '"updates": {"score": %s}}}' % big):
            r = self.raw_request(line)
            self.assertEqual(r["status"], "error", line)
            self.assertEqual(r["error"]["code"], "INVALID_PARAMETER")
            self.assertIn("cannot be kept as sent", r["error"]["message"])
        self.assertFalse(os.path.exists(self.ksid.path("shared_state", "n.json")))
        with open(self.ksid.path("shared_state", "identities.json")) as f:
            self.assertEqual(f.read(), identities)
        strict_json(identities)
        self.assertEqual(self.ksid.stop(), 0)
        self.ksid.start()
        r = self.ksid.request(cmd("LIST_IDENTITIES"))["result"]
        self.assertEqual(list(r["identities"]), ["keep-me"])

    def test_64_bit_integers_and_doubles_read_back_the_same_after_a_restart(self):
        value = [18446744073709551615, -9223372036854775808, 1.7976931348623157e308, 5e-324, 0.1, 1e-400]
        self.assertEqual(self.ksid.request(cmd("SET_SHARED", key="n", value=value))["status"], "success")
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="a", personality_traits=value))
        self.assertEqual(self.ksid.stop(), 0)
        self.ksid.start()
        self.assertEqual(self.ksid.request(cmd("GET_SHARED", key="n"))["result"]["value"], value)
        identity = self.ksid.request(cmd("GET_IDENTITY", agent_id="a"))["result"]["identity"]
        self.assertEqual(identity["personality_traits"], value)
        for name in ("n.json", "identities.json"):
            with open(self.ksid.path("shared_state", name)) as f:
                strict_json(f.read())


def kept_aside(directory, name):
    """The files a daemon renamed aside instead of overwriting: NAME.corrupt-<UTC time>."""
    pattern = re.escape(name) + r"\.corrupt-\d{8}T\d{6}Z(-\d+)?"
    return sorted(n for n in os.listdir(directory) if re.fullmatch(pattern, n))


class StateDirectoryCase(unittest.TestCase):
    """A ksid not started yet, with its shared_state/ made, so a test can put files there first."""

    def setUp(self):
        self.k = Ksid()
        os.makedirs(self.k.path("shared_state"))

    def tearDown(self):
        try:
            KsidTestCase.assert_no_sanitizer_report(self, self.k)
        finally:
            self.k.cleanup()


class UnusableStateFiles(StateDirectoryCase):
    """A state file that exists but cannot be used is renamed aside with a warning, never overwritten; one
    that cannot even be read stops the start-up (identities) or its key's writes (shared state)."""

    def write(self, name, content):
        with open(self.k.path("shared_state", name), "w") as f:
            f.write(content)

    def test_an_invalid_identities_file_is_kept_aside_and_a_fresh_one_started(self):
        for content in ("{torn", '{"a": {"n": Infinity}}', '["not", "an", "object"]'):
            with self.subTest(content=content):
                if self.k.proc is not None and self.k.proc.poll() is None:
                    self.k.proc.kill()  # a failed earlier round left it running
                    self.k.wait()
                self.write("identities.json", content)
                logged_before = len(self.k.stderr())
                self.k.start()
                self.assertEqual(self.k.request(cmd("LIST_IDENTITIES"))["result"]["count"], 0)
                self.assertRegex(self.k.stderr()[logged_before:], r"WARNING - shared_state/identities\.json: .*; kept as "
                                                  r"shared_state/identities\.json\.corrupt-.*; starting with no identities")
                self.k.request(cmd("CREATE_IDENTITY", agent_id="fresh"))
                with open(self.k.path("shared_state", "identities.json")) as f:
                    self.assertEqual(list(json.load(f)), ["fresh"])
                kept = kept_aside(self.k.path("shared_state"), "identities.json")
                self.assertEqual(len(kept), 1)
                with open(self.k.path("shared_state", kept[0])) as f:
                    self.assertEqual(f.read(), content)
                self.assertEqual(self.k.stop(), 0)
                os.unlink(self.k.path("shared_state", kept[0]))

    def test_an_identities_file_over_the_size_limit_is_kept_aside_not_overwritten(self):
        path = self.k.path("shared_state", "identities.json")
        with open(path, "w") as f:
            f.truncate((256 << 20) + 1)  # sparse: costs no disk
        self.k.start()
        self.assertIn("it is larger than 256 MiB; kept as", self.k.stderr())
        self.k.request(cmd("CREATE_IDENTITY", agent_id="fresh"))
        kept = kept_aside(self.k.path("shared_state"), "identities.json")
        self.assertEqual(len(kept), 1)
        self.assertEqual(os.path.getsize(self.k.path("shared_state", kept[0])), (256 << 20) + 1)
        self.assertEqual(self.k.stop(), 0)

    def test_an_identities_file_that_cannot_be_read_stops_the_start(self):
        os.makedirs(self.k.path("shared_state", "identities.json"))  # reading it fails (EISDIR)
        self.k.start(wait=False)
        self.assertEqual(self.k.wait(10), 1)
        self.assertIn("not starting, so that the file is not overwritten", self.k.stderr())
        self.assertTrue(os.path.isdir(self.k.path("shared_state", "identities.json")))
        self.assertFalse(os.path.exists(self.k.path("sockets", "claude_daemon.pid")))

    def test_an_unusable_shared_state_file_is_kept_aside_when_read_or_set(self):
        self.write("read.json", "{not json")
        self.write("set.json", '{"no value": 1}')
        self.k.start()
        self.assertIsNone(self.k.request(cmd("GET_SHARED", key="read"))["result"]["value"])
        self.assertEqual(self.k.request(cmd("SET_SHARED", key="set", value=2))["status"], "success")
        self.assertEqual(self.k.request(cmd("GET_SHARED", key="set"))["result"]["value"], 2)
        for name, content in (("read.json", "{not json"), ("set.json", '{"no value": 1}')):
            kept = kept_aside(self.k.path("shared_state"), name)
            self.assertEqual(len(kept), 1, name)
            with open(self.k.path("shared_state", kept[0])) as f:
                self.assertEqual(f.read(), content)
        self.assertIn("shared_state/set.json: it is not an object with a \"value\"; kept as", self.k.stderr())
        self.assertEqual(self.k.stop(), 0)

    def test_a_shared_state_file_that_cannot_be_read_is_not_overwritten(self):
        os.makedirs(self.k.path("shared_state", "k.json"))  # reading it fails (EISDIR)
        self.k.start()
        r = self.k.request(cmd("SET_SHARED", key="k", value=1))
        self.assertEqual(r["error"]["code"], "COMMAND_PROCESSING_FAILED")
        self.assertIn("Is a directory", r["error"]["message"])
        self.assertIsNone(self.k.request(cmd("GET_SHARED", key="k"))["result"]["value"])
        self.assertTrue(os.path.isdir(self.k.path("shared_state", "k.json")))
        self.assertEqual(self.k.stop(), 0)


class SpecialFiles(StateDirectoryCase):
    """A FIFO (or socket, or device) where a state file belongs never blocks the daemon: data files are opened
    non-blocking and used only when they are regular files (a FIFO in shared_state/ used to hang the loop)."""

    def test_a_fifo_as_a_shared_state_key_is_refused_at_once_and_left_alone(self):
        fifo = self.k.path("shared_state", "pipe.json")
        os.mkfifo(fifo)
        self.k.start()
        started = time.monotonic()
        self.assertIsNone(self.k.request(cmd("GET_SHARED", key="pipe"), timeout=5)["result"]["value"])
        r = self.k.request(cmd("SET_SHARED", key="pipe", value=1), timeout=5)
        self.assertEqual(r["error"]["code"], "COMMAND_PROCESSING_FAILED")
        self.assertIn("Invalid argument", r["error"]["message"])
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(self.k.request(cmd("HEALTH_CHECK"), timeout=5)["result"]["status"], "healthy")
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))  # neither replaced nor renamed
        self.assertIn("shared_state/pipe.json: cannot read it: not a regular file", self.k.stderr())
        self.assertEqual(self.k.stop(), 0)

    def test_a_fifo_as_a_session_log_fails_that_spawn_at_once(self):
        os.makedirs(self.k.path("claude_logs"))
        sid = "5e551011-0000-4000-8000-000000000001"
        os.mkfifo(self.k.path("claude_logs", sid + ".jsonl"))
        self.k.start()
        started = time.monotonic()
        r = self.k.request({"command": "SPAWN", "version": "2.0", "parameters": {
            "mode": "sync", "type": "claude", "prompt": "FAKE:session=" + sid + " hello"}}, timeout=10)
        self.assertLess(time.monotonic() - started, 5)
        self.assertRegex(r["result"]["error"], r"^OSError: \[Errno \d+\] .*" + sid)  # the legacy I/O failure, not a hang
        self.assertEqual(self.k.request(cmd("HEALTH_CHECK"), timeout=5)["result"]["status"], "healthy")
        self.assertEqual(self.k.stop(), 0)

    def test_a_fifo_as_identities_stops_the_start_at_once(self):
        os.mkfifo(self.k.path("shared_state", "identities.json"))
        self.k.start(wait=False)
        self.assertEqual(self.k.wait(10), 1)
        self.assertIn("not a regular file", self.k.stderr())


class ReservedNames(KsidTestCase):
    """Client-chosen names that would land on ksid's own files are refused (protocol/reserved_names.hpp)."""

    def test_the_shared_state_key_identities_is_refused(self):
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="keep-me"))
        with open(self.ksid.path("shared_state", "identities.json")) as f:
            before = f.read()
        for name in ("SET_SHARED", "GET_SHARED"):
            r = self.ksid.request(cmd(name, key="identities", value="clobbered"))
            self.assertEqual(r["status"], "error", name)
            self.assertEqual(r["error"]["code"], "INVALID_KEY")
            self.assertIn("reserved", r["error"]["message"])
        with open(self.ksid.path("shared_state", "identities.json")) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(self.ksid.stop(), 0)
        self.ksid.start()
        self.assertEqual(self.ksid.request(cmd("GET_IDENTITY", agent_id="keep-me"))["result"]["status"],
                         "identity_found")

    def test_reserved_session_ids_are_refused(self):
        for sid in ("latest", "message_bus", "task_routing"):
            r = self.ksid.request(cmd("SPAWN", mode="sync", type="claude", prompt="x", session_id=sid))
            self.assertEqual(r["status"], "error", sid)
            self.assertEqual(r["error"]["code"], "INVALID_PARAMETER")
            self.assertIn("not latest, message_bus or task_routing", r["error"]["message"])
        self.assertEqual(os.listdir(self.ksid.path("claude_logs")), [])

    def test_a_reserved_session_id_reported_by_the_cli_names_no_file(self):
        first = self.ksid.request(cmd("SPAWN", mode="sync", type="claude", prompt="first"))["result"]["session_id"]
        for sid in ("latest", "message_bus", "task_routing"):
            for mode in ("sync", "async"):
                r = self.ksid.request(cmd("SPAWN", mode=mode, type="claude", prompt="FAKE:session=" + sid))
                self.assertEqual(r["status"], "success", (sid, mode))
        deadline = time.monotonic() + 10  # let the async runs finish and be recorded
        while self.ksid.request(cmd("GET_PROCESSES"))["result"]["processes"] and time.monotonic() < deadline:
            time.sleep(0.05)
        # latest.jsonl still points at the first session's log, not at itself or at another ksid file.
        self.assertEqual(os.readlink(self.ksid.path("claude_logs", "latest.jsonl")), first + ".jsonl")
        with open(self.ksid.path("claude_logs", first + ".jsonl")) as f:
            self.assertEqual(len(f.read().splitlines()), 2)
        with open(self.ksid.path("sockets", "last_session_id")) as f:
            self.assertEqual(f.read(), first)
        for name in ("message_bus.jsonl", "task_routing.jsonl"):
            if os.path.exists(self.ksid.path("claude_logs", name)):
                with open(self.ksid.path("claude_logs", name)) as f:
                    for line in f:
                        self.assertNotIn(json.loads(line).get("type"), ("human", "claude"), name)



class ForgottenMisses(KsidTestCase):
    """GET_SHARED of keys that do not exist keeps nothing: a client asking for any number of them does not
    grow the daemon (each miss used to stay cached, with its file name remembered as checked)."""

    def test_many_missing_keys_leave_memory_where_it_was(self):
        s = self.ksid.connect(timeout=30)
        s.sendall((json.dumps(cmd("AGENT_CONNECTION", action="connect", agent_id="poller")) + "\n").encode())
        reader = s.makefile("rb")
        reader.readline()

        def ask(start, count):
            lines = b"".join((json.dumps(cmd("GET_SHARED", key=f"{'k' * 180}{i}")) + "\n").encode()
                             for i in range(start, start + count))
            s.sendall(lines)
            for _ in range(count):
                self.assertIsNone(json.loads(reader.readline())["result"]["value"])

        ask(0, 2000)  # warm up allocator arenas
        before = rss_kib(self.ksid.proc.pid)
        for start in range(2000, 32000, 2000):
            ask(start, 2000)
        grown = rss_kib(self.ksid.proc.pid) - before
        if not SANITIZED:  # ASan's quarantine keeps freed memory resident: RSS says nothing there
            self.assertLess(grown, 6 * 1024, f"RSS grew {grown} KiB over 30 000 missing keys")
        # A key that appears later is found.
        with open(self.ksid.path("shared_state", "late.json"), "w") as f:
            json.dump({"value": 7, "updated_at": "2024-01-01T00:00:00.000000Z"}, f)
        s.sendall((json.dumps(cmd("GET_SHARED", key="late")) + "\n").encode())
        self.assertEqual(json.loads(reader.readline())["result"]["value"], 7)
        reader.close()
        s.close()


class IdentityWritesOffTheLoop(StateDirectoryCase):
    """Rewriting a large identities.json never stops the daemon: the write and its fsync run on a worker
    thread, each identity's text is kept serialised, and changes that arrive during a write share the next
    one (each change used to re-serialise and fsync the whole file on the event loop: 0.83 s frozen at 60 MB,
    1 000 creates in 381 s)."""

    def test_other_clients_are_served_while_a_large_file_is_written(self):
        filler = "x" * 1800
        seeded = {f"seed-{i}": {"display_name": f"seed {i}", "notes": filler} for i in range(24000)}
        with open(self.k.path("shared_state", "identities.json"), "w") as f:
            json.dump(seeded, f, indent=2)  # about 45 MB
        self.k.start(wait=False)
        self.k.wait_healthy(timeout=60)

        creates = []
        done = threading.Event()

        def create_in_turn():
            try:
                for i in range(8):
                    started = time.monotonic()
                    r = self.k.request(cmd("CREATE_IDENTITY", agent_id=f"new-{i}"), timeout=60)
                    creates.append(time.monotonic() - started)
                    self.assertEqual(r["status"], "success", r)
            finally:
                done.set()

        writer = threading.Thread(target=create_in_turn)
        writer.start()
        health = []
        while not done.is_set():
            started = time.monotonic()
            self.assertEqual(self.k.request(cmd("HEALTH_CHECK"), timeout=60)["status"], "success")
            health.append(time.monotonic() - started)
        writer.join()
        self.assertEqual(len(creates), 8)
        create_median = sorted(creates)[len(creates) // 2]
        if os.environ.get("KSID_TEST_VERBOSE"):
            print(f"\ncreates {sorted(creates)}, health max {max(health):.4f} of {len(health)}")
        # A create waits for its write; a health check never does. Blocked, the loop made the slowest
        # health check as slow as a whole write.
        self.assertLess(max(health), max(create_median / 2, 0.05),
                        f"slowest health check {max(health):.3f} s, a create {create_median:.3f} s")

        # A burst from many clients: every change answered once and on disk.
        results = []

        def create(i):
            results.append(self.k.request(cmd("CREATE_IDENTITY", agent_id=f"burst-{i}"), timeout=120)["status"])

        burst = [threading.Thread(target=create, args=(i,)) for i in range(40)]
        for t in burst:
            t.start()
        for t in burst:
            t.join()
        self.assertEqual(results, ["success"] * 40)
        self.assertEqual(self.k.stop(), 0)
        with open(self.k.path("shared_state", "identities.json")) as f:
            saved = strict_json(f.read())
        self.assertEqual(len(saved), 24000 + 8 + 40)
        self.assertEqual(saved["seed-23999"]["notes"], filler)
        self.assertTrue(all(f"burst-{i}" in saved for i in range(40)))


if __name__ == "__main__":
    unittest.main()
