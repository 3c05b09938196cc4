"""Warm claude processes (pool.enabled) with the fake CLI's stream-json input mode: pre-started spares,
session affinity, per-session order, eviction and resume, interrupts, kills, cold retries, the facade, and
shutdown. The real CLI's part is in test_warm_pool_real_claude.py."""
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ksid_harness import free_port, KsidTestCase  # noqa: E402


def spawn(prompt, session=None, mode="sync"):
    params = {"mode": mode, "type": "claude", "prompt": prompt}
    if session:
        params["session_id"] = session
    return {"command": "SPAWN", "version": "2.0", "parameters": params}


def wait_gone(ksid, pid, timeout=5):
    """True once `pid` is no longer among the daemon's live children (it was told to stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid not in ksid.processes_with_marker():
            return True
        time.sleep(0.05)
    return False


def pool_config(**pool):
    settings = {"enabled": "true", "max_processes": 4, "spares": 1, "output_idle_limit": 30,
                "interrupt_drain": 2}
    settings.update(pool)
    return "pool:\n" + "".join(f"  {k}: {v}\n" for k, v in settings.items())


class WarmPoolCase(KsidTestCase):
    ksid_config = pool_config()

    def warm(self):
        procs = self.ksid.request({"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]
        return {k: v for k, v in procs.items() if v.get("type") == "warm_claude"}

    def wait_warm(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            w = self.warm()
            if predicate(w):
                return w
            time.sleep(0.05)
        self.fail(f"warm processes never matched: {self.warm()}")

    def turn(self, prompt, session=None, timeout=20):
        reply = self.ksid.request(spawn(prompt, session), timeout=timeout)
        self.assertEqual(reply["status"], "success", reply)
        return reply["result"]


class Affinity(WarmPoolCase):
    def test_first_turn_from_a_spare_then_follow_ups_in_the_same_process(self):
        spares = self.wait_warm(lambda w: any(p["status"] == "spare" for p in w.values()))
        spare_pid = next(p["pid"] for p in spares.values() if p["status"] == "spare")
        first = self.turn("hello")
        self.assertEqual(first["result"], "ECHO[1]: hello")
        self.assertEqual(first["fake_pid"], spare_pid)
        session = first["session_id"]
        self.assertAlmostEqual(first["total_cost_usd"], 0.0001)
        # The legacy files, as a cold run writes them.
        with open(self.ksid.path("sockets", "last_session_id")) as f:
            self.assertEqual(f.read(), session)
        with open(self.ksid.path("claude_logs", session + ".jsonl")) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual([line["type"] for line in lines], ["human", "claude"])
        # chat.py-style follow-ups: the same process, the conversation grows, cost is per turn.
        second = self.turn("again", session)
        self.assertEqual(second["result"], "ECHO[2]: again")
        self.assertEqual(second["fake_pid"], spare_pid)
        self.assertEqual(second["session_id"], session)
        self.assertAlmostEqual(second["total_cost_usd"], 0.0001)
        # A replacement spare was started for the next new conversation.
        w = self.wait_warm(lambda w: any(p["status"] == "spare" for p in w.values()))
        self.assertTrue(any(p["session_id"] == session and p["pid"] == spare_pid for p in w.values()), w)

    def test_turns_of_one_session_run_in_order_never_forked(self):
        session = self.turn("start")["session_id"]
        results = {}

        def client(i):
            time.sleep(0.15 * i)  # arrival order 0, 1, 2
            results[i] = self.turn(f"n{i}", session)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual([results[i]["result"] for i in range(3)], ["ECHO[2]: n0", "ECHO[3]: n1", "ECHO[4]: n2"])
        self.assertEqual(len({r["fake_pid"] for r in results.values()}), 1)



class Bounds(WarmPoolCase):
    ksid_config = pool_config(max_processes=2, spares=0)

    def test_eviction_then_resume(self):
        a = self.turn("a")
        b = self.turn("b")
        c = self.turn("c")  # a third process: the least recently used (a's) is stopped
        w = self.warm()
        self.assertEqual(len(w), 2, w)
        sessions = {p["session_id"] for p in w.values()}
        self.assertEqual(sessions, {b["session_id"], c["session_id"]})
        again = self.turn("a2", a["session_id"])  # resumed in a new process, which stays warm
        self.assertEqual(again["session_id"], a["session_id"])
        self.assertNotEqual(again["fake_pid"], a["fake_pid"])
        self.assertEqual(again["result"], "ECHO[1]: a2")
        with open(f"/proc/{again['fake_pid']}/cmdline") as f:
            self.assertIn("--resume=" + a["session_id"], f.read().split("\0"))
        self.assertEqual(self.turn("a3", a["session_id"])["fake_pid"], again["fake_pid"])


class Faults(WarmPoolCase):
    ksid_config = pool_config(output_idle_limit=10, interrupt_drain=1) + "queue:\n  run_time_limit: 1.5\n"

    def test_a_process_that_dies_before_answering_has_the_turn_run_cold(self):
        r = self.turn("FAKE:die-turn")
        self.assertTrue(r["result"].startswith("ECHO: "), r)  # the cold fake's answer
        self.assertIn("--output-format", r["argv"])

    def test_a_process_that_dies_mid_turn_is_an_error_and_is_replaced(self):
        session = self.turn("one")["session_id"]
        r = self.turn("FAKE:die-mid", session)
        self.assertIn("without a result", r["error"])
        again = self.turn("two", session)  # a new process resumes the session
        self.assertEqual(again["result"], "ECHO[1]: two")


    def test_an_overdue_turn_is_interrupted_and_the_process_kept(self):
        first = self.turn("one")
        r = self.turn("FAKE:hang-turn", first["session_id"])
        self.assertIn("time limit", r["error"])
        after = self.turn("three", first["session_id"])
        self.assertEqual(after["fake_pid"], first["fake_pid"])  # drained: still usable
        self.assertEqual(after["result"], "ECHO[3]: three")

    def test_a_turn_that_ignores_the_interrupt_gets_its_process_killed(self):
        first = self.turn("one")
        r = self.turn("FAKE:deaf-turn", first["session_id"])
        self.assertIn("time limit", r["error"])
        self.assertTrue(wait_gone(self.ksid, first["fake_pid"]), "the process was not killed")
        after = self.turn("again", first["session_id"])
        self.assertNotEqual(after["fake_pid"], first["fake_pid"])


class SilentProcess(WarmPoolCase):
    ksid_config = pool_config(output_idle_limit=1)

    def test_a_silent_process_is_killed_and_the_turn_run_cold(self):
        start = time.monotonic()
        r = self.turn("FAKE:silent-turn")
        self.assertTrue(r["result"].startswith("ECHO: "), r)  # the cold fake's answer
        self.assertLess(time.monotonic() - start, 5)

    def test_a_process_silent_after_it_started_is_killed(self):
        first = self.turn("one")
        r = self.turn("FAKE:deaf-turn", first["session_id"])
        self.assertIn("time limit", r["error"])
        self.assertTrue(wait_gone(self.ksid, first["fake_pid"]), "the hung process was not killed")


class FacadeOnPool(WarmPoolCase):
    def setUp(self):
        self.port = free_port()
        self.ksid_config = pool_config() + f"facade:\n  enabled: true\n  port: {self.port}\n"
        super().setUp()

    def post(self, body):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        data = json.dumps(body).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)
        return s

    def test_streamed_turns_and_a_client_that_leaves_mid_stream(self):
        with self.post({"model": "sonnet", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as s:
            body = b""
            while chunk := s.recv(65536):
                body += chunk
        self.assertIn(b"ECHO[1]: hi", body)
        session = body.split(b"X-Session-Id: ")[1].split(b"\r\n")[0].decode()
        pid = next(p["pid"] for p in self.warm().values() if p["session_id"] == session)
        # A client that leaves while its turn runs: the turn is interrupted, the process stays usable.
        s = self.post({"model": "sonnet", "stream": True, "session_id": session,
                       "messages": [{"role": "user", "content": "FAKE:hang-turn"}]})
        self.wait_warm(lambda w: any(p["status"] == "busy" for p in w.values()))
        s.close()
        self.wait_warm(lambda w: any(p["pid"] == pid and p["status"] == "idle" for p in w.values()))
        with self.post({"model": "sonnet", "session_id": session,
                        "messages": [{"role": "user", "content": "back"}]}) as s2:
            body = b""
            while chunk := s2.recv(65536):
                body += chunk
        self.assertIn(b"ECHO[3]: back", body)
        metrics = self.ksid_metrics()
        self.assertIn('ksid_pool_events_total{event="interrupt"} 1', metrics)
        self.assertIn('ksid_pool_events_total{event="hit"}', metrics)

    def ksid_metrics(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()


class Shutdown(WarmPoolCase):
    def test_shutdown_with_busy_and_idle_processes_leaves_nothing(self):
        session = self.turn("one")["session_id"]
        self.wait_warm(lambda w: len(w) >= 2)  # the session's process and a spare
        t = threading.Thread(target=lambda: self.ksid.request(spawn("FAKE:deaf-turn", session), timeout=20))
        t.start()
        self.wait_warm(lambda w: any(p["status"] == "busy" for p in w.values()))
        start = time.monotonic()
        self.assertEqual(self.ksid.stop(), 0)
        self.assertLess(time.monotonic() - start, 5)
        t.join(10)
        self.assertEqual(self.ksid.processes_with_marker(), [])


if __name__ == "__main__":
    unittest.main()
