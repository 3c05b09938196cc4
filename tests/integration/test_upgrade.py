"""RELOAD_DAEMON and SIGUSR2: an upgrade in place (app/daemon_upgrade.hpp). The running daemon starts the
binary on disk with its listening sockets, its state and, once the new one serves, its persistent
connections; runs in flight finish in the old process. Under load: one-shot clients in a loop, a streamed
facade request, a sync SPAWN and an async SPAWN in flight, two agents exchanging DIRECT_MESSAGEs across
the reload: no connection refused or reset, every request answered once, the agents' conversation goes
on without a reconnect. A broken or hanging new binary is stopped and the old daemon goes on serving."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import unittest
import urllib.request

from ksid_harness import KSID_BIN, SOURCE_DIR, Ksid, free_port, wait_until


def cmd(name, **params):
    return {"command": name, "version": "2.0", "parameters": params}


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Agent:
    """A persistent connection: replies and bus events on one socket, told apart by their shape."""

    def __init__(self, k, agent_id, types):
        self.s = k.connect(timeout=30)
        self.reader = self.s.makefile("rb")
        self.events = []
        self.replies = []
        self.send(cmd("AGENT_CONNECTION", action="connect", agent_id=agent_id))
        self.send(cmd("SUBSCRIBE", agent_id=agent_id, event_types=types))
        self.next_reply()
        self.next_reply()

    def send(self, obj):
        self.s.sendall((json.dumps(obj) + "\n").encode())

    def read_one(self):
        line = self.reader.readline()
        if not line:
            raise AssertionError("the agent's connection closed")
        msg = json.loads(line)
        (self.replies if "command" in msg and "status" in msg else self.events).append(msg)

    def next_reply(self):
        while not self.replies:
            self.read_one()
        return self.replies.pop(0)

    def next_event(self, predicate=lambda e: True):
        while True:
            for i, e in enumerate(self.events):
                if predicate(e):
                    return self.events.pop(i)
            self.read_one()

    def close(self):
        self.reader.close()
        self.s.close()


class UpgradeCase(unittest.TestCase):
    env = {}

    def setUp(self):
        self.port = free_port()
        env = {"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.port)}
        env.update(self.env)
        self.k = Ksid(env=env)

    def tearDown(self):
        try:
            # The daemon serving now may be one the test did not start: the PID file names it.
            try:
                with open(self.k.path("sockets", "claude_daemon.pid")) as f:
                    pid = int(f.read())
            except (OSError, ValueError):
                pid = None
            if pid and pid != (self.k.proc.pid if self.k.proc else None) and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda: not pid_alive(pid), timeout=10)
            self.k.stop()
            wait_until(lambda: not self.k.processes_with_marker(), timeout=5)
            self.assertEqual(self.k.processes_with_marker(), [], "processes left running")
            err = self.k.stderr()
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                self.assertNotIn(marker, err)
        finally:
            self.k.cleanup()

    def pid_file(self):
        with open(self.k.path("sockets", "claude_daemon.pid")) as f:
            return int(f.read())

    def log(self):
        with open(self.k.path("logs", "daemon.log")) as f:
            return f.read()


class UpgradeInPlace(UpgradeCase):
    def test_nothing_is_refused_lost_or_reset_across_the_reload(self):
        k = self.k.start()
        old_pid = k.proc.pid
        # Direct messages need no subscription (a DIRECT_MESSAGE subscriber gets every one, legacy-style).
        a = Agent(k, "alice", ["PROCESS_COMPLETE"])
        b = Agent(k, "bob", ["BROADCAST"])
        stop = threading.Event()
        failures, answered = [], []

        def one_shots():
            while not stop.is_set():
                try:
                    r = k.request(cmd("HEALTH_CHECK"), timeout=30)
                    answered.append(r["status"])
                except Exception as e:  # refused, reset, no reply: each one is a failure
                    failures.append(repr(e))

        def conversation():
            # alice and bob take turns, on their own connections, across the reload.
            n = 0
            while not stop.is_set() or n < 30:
                a.send(cmd("PUBLISH", from_agent="alice", event_type="DIRECT_MESSAGE", payload={"to": "bob", "n": n}))
                self.assertEqual(a.next_reply()["status"], "success")
                self.assertEqual(b.next_event()["n"], n)
                b.send(cmd("PUBLISH", from_agent="bob", event_type="DIRECT_MESSAGE", payload={"to": "alice", "n": n}))
                self.assertEqual(b.next_reply()["status"], "success")
                self.assertEqual(a.next_event(lambda e: e.get("type") == "DIRECT_MESSAGE")["n"], n)
                n += 1
            results["turns"] = n

        results = {}

        def sync_spawn():
            results["spawn"] = k.request(cmd("SPAWN", mode="sync", prompt="FAKE:sleep=1500 in flight"), timeout=30)

        def stream():
            body = json.dumps({"model": "sonnet", "stream": True,
                               "messages": [{"role": "user", "content": "FAKE:sleep=1500 streamed"}]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                results["stream"] = r.read().decode()

        threads = [threading.Thread(target=f) for f in (one_shots, one_shots, conversation, sync_spawn, stream)]
        for t in threads:
            t.start()
        started = k.request(cmd("SPAWN", mode="async", prompt="FAKE:sleep=1500 async", agent_id="alice"))
        process_id = started["result"]["process_id"]
        time.sleep(0.5)
        reply = k.request(cmd("RELOAD_DAEMON"), timeout=60)
        self.assertEqual(reply, {"status": "success", "command": "RELOAD_DAEMON", "result": {"status": "reloaded"}})
        new_pid = self.pid_file()
        self.assertNotEqual(new_pid, old_pid)
        self.assertTrue(pid_alive(new_pid))
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(60)
        # Runs in flight finished in the old daemon, which then exited.
        self.assertEqual(k.proc.wait(30), 0)
        self.assertEqual(failures, [], f"{len(failures)} one-shot requests failed")
        self.assertGreater(len(answered), 50)
        self.assertEqual(set(answered), {"success"})
        self.assertGreaterEqual(results["turns"], 30)
        self.assertEqual(results["spawn"]["status"], "success")
        self.assertIn("in flight", json.dumps(results["spawn"]))
        self.assertTrue(results["stream"].rstrip().endswith("data: [DONE]"), results["stream"][-300:])
        # The async run's PROCESS_COMPLETE reached alice through the new daemon's bus.
        event = a.next_event(lambda e: e.get("type") == "PROCESS_COMPLETE")
        self.assertEqual((event["process_id"], event["status"]), (process_id, "success"))
        # The new daemon serves everything, and knows the agents.
        stats = k.request(cmd("MESSAGE_BUS_STATS"))["result"]
        self.assertEqual(sorted(stats["connected_agents"]), ["alice", "bob"])
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=10) as r:
            self.assertEqual(r.status, 200)
        self.assertTrue(os.path.exists(k.socket_path))
        log = self.log()
        self.assertIn("Hot reload handover complete - exiting old daemon", log)
        a.close()
        b.close()
        # The new daemon removes the socket when it stops.
        os.kill(new_pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(new_pid), timeout=10)
        self.assertFalse(os.path.exists(k.socket_path))
        self.assertIn("RELOAD_DAEMON: the old daemon has exited; 2 persistent connection(s) came over", self.log())

    def test_half_a_request_line_sent_before_the_reload_is_finished_after_it(self):
        k = self.k.start()
        agent = Agent(k, "halfway", ["BROADCAST"])
        agent.s.sendall(b'{"command": "MESSAGE_BUS_')  # unread input: it goes over with the connection
        reply = k.request(cmd("RELOAD_DAEMON"), timeout=60)
        self.assertEqual(reply["result"], {"status": "reloaded"})
        self.assertEqual(k.proc.wait(30), 0)  # the old daemon has handed everything over and gone
        agent.s.sendall(b'STATS", "version": "2.0"}\n')
        stats = agent.next_reply()
        self.assertEqual(stats["command"], "MESSAGE_BUS_STATS")
        self.assertEqual(stats["result"]["connected_agents"], ["halfway"])
        self.assertEqual(stats["result"]["subscriptions"], {"BROADCAST": ["halfway"]})
        k.request(cmd("PUBLISH", from_agent="x", event_type="BROADCAST", payload={"after": True}))
        self.assertTrue(agent.next_event()["after"])
        agent.close()

    def test_a_second_sigusr2_while_draining_and_a_new_daemon_that_exits_first(self):
        k = self.k.start()
        old_pid = k.proc.pid
        result = {}
        spawn = threading.Thread(target=lambda: result.update(
            k.request(cmd("SPAWN", mode="sync", prompt="FAKE:sleep=2500 long"), timeout=30)))
        spawn.start()
        time.sleep(0.3)
        os.kill(old_pid, signal.SIGUSR2)
        wait_until(lambda: self.pid_file() != old_pid, timeout=20)
        new_pid = self.pid_file()
        os.kill(old_pid, signal.SIGUSR2)  # postinst may send another: ignored while draining, never fatal
        # The new daemon goes first; the old one, still draining, reaps it (no zombie under it).
        self.assertEqual(k.request(cmd("SHUTDOWN"))["status"], "success")
        wait_until(lambda: not pid_alive(new_pid), timeout=10)
        wait_until(lambda: not k.zombie_children(), timeout=5)
        self.assertEqual(k.zombie_children(), [])
        spawn.join(30)
        self.assertEqual(result.get("status"), "success", result)  # answered by the old daemon
        self.assertEqual(k.proc.wait(30), 0)

    def test_state_goes_over_and_sigusr2_reloads_too(self):
        k = self.k.start()
        k.request(cmd("REGISTER_AGENT", agent_id="coder", role="coder", capabilities=["python"]))
        k.request(cmd("PUBLISH", from_agent="x", event_type="DIRECT_MESSAGE", payload={"to": "away", "n": 1}))
        k.request(cmd("SPAWN", mode="sync", prompt="FAKE:session=sess-upgrade hi"))
        old_pid = k.proc.pid
        os.kill(old_pid, signal.SIGUSR2)
        wait_until(lambda: self.pid_file() != old_pid, timeout=20)
        self.assertEqual(k.proc.wait(30), 0)
        # Agents, sessions and the offline queue came over.
        self.assertIn("coder", k.request(cmd("GET_AGENTS"))["result"]["agents"])
        stats = k.request(cmd("MESSAGE_BUS_STATS"))["result"]
        self.assertEqual(stats["offline_queues"], {"away": 1})
        self.assertEqual(stats["history_size"], 1)  # the bus history came over too
        cleanup = k.request(cmd("CLEANUP", cleanup_type="sessions"))["result"]
        self.assertIn("Cleared 1 tracked sessions", json.dumps(cleanup))
        away = Agent(k, "away", ["DIRECT_MESSAGE"])
        self.assertEqual(away.next_event()["n"], 1)
        away.close()
        # The new daemon can be replaced in turn.
        second = k.request(cmd("RELOAD_DAEMON"), timeout=60)
        self.assertEqual(second["result"], {"status": "reloaded"})


class Rollback(UpgradeCase):
    env = {"KSID_UPGRADE_TIMEOUT": "2"}

    def start_from_copy(self):
        # ksid started from a copy of its binary, which the test then replaces on disk.
        self.copy = self.k.path("ksid-under-test")
        shutil.copy2(KSID_BIN, self.copy)
        self.k.binary = self.copy
        return self.k.start()

    def replace_binary(self, script):
        os.unlink(self.copy)
        with open(self.copy, "w") as f:
            f.write("#!/bin/sh\n" + script + "\n")
        os.chmod(self.copy, stat.S_IRWXU)

    def assert_still_serving(self, k, old_pid):
        self.assertEqual(self.pid_file(), old_pid)
        self.assertEqual(k.request(cmd("HEALTH_CHECK"))["status"], "success")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=10) as r:
            self.assertEqual(r.status, 200)
        self.assertIsNone(k.proc.poll())

    def test_a_new_binary_that_fails_rolls_back(self):
        k = self.start_from_copy()
        agent = Agent(k, "stays", ["BROADCAST"])
        self.replace_binary("exit 3")
        reply = k.request(cmd("RELOAD_DAEMON"), timeout=30)
        self.assertEqual(reply["result"]["status"], "rollback_complete")
        self.assertEqual(reply["result"]["error"],
                         "Hot reload failed: the new daemon did not start: it exited with status 3")
        self.assert_still_serving(k, k.proc.pid)
        # Nothing was handed over: the agent is still served here.
        k.request(cmd("PUBLISH", from_agent="x", event_type="BROADCAST", payload={"still": True}))
        self.assertTrue(agent.next_event()["still"])
        agent.close()
        self.assertIn("Hot reload failed: the new daemon did not start", self.log())

    def test_a_configuration_the_new_daemon_refuses_rolls_back_with_its_reason(self):
        k = self.k.start()
        os.makedirs(k.path("config"))
        with open(k.path("config", "api_shim.yaml"), "w") as f:  # read by the new daemon, not the old
            f.write("daemon:\n  no_such_setting: 1\n")
        reply = k.request(cmd("RELOAD_DAEMON"), timeout=30)
        self.assertEqual(reply["result"]["status"], "rollback_complete")
        self.assertTrue(reply["result"]["error"].startswith(
            "Hot reload failed: the new daemon refused to start: configuration error: "), reply)
        self.assertIn("no_such_setting", reply["result"]["error"])
        self.assert_still_serving(k, k.proc.pid)

    def test_a_new_daemon_that_cannot_write_its_pid_file_leaves_the_socket_alone(self):
        k = self.k.start()
        os.makedirs(k.path("config"))
        with open(k.path("config", "api_shim.yaml"), "w") as f:
            f.write("daemon:\n  pid_file: /proc/self/no-such-pid-file\n")
        reply = k.request(cmd("RELOAD_DAEMON"), timeout=30)
        self.assertEqual(reply["result"]["status"], "rollback_complete", reply)
        self.assertIn("refused to start", reply["result"]["error"])
        self.assertTrue(os.path.exists(k.socket_path))  # the old daemon's socket, still there
        self.assert_still_serving(k, k.proc.pid)

    def test_a_new_binary_that_hangs_is_stopped_and_rolls_back(self):
        k = self.start_from_copy()
        self.replace_binary("exec sleep 300")
        started = time.monotonic()
        reply = k.request(cmd("RELOAD_DAEMON"), timeout=30)
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(reply["result"], {"error": "Hot reload failed: the new daemon did not start: no answer "
                                                    "within 2000 ms", "status": "rollback_complete"})
        self.assert_still_serving(k, k.proc.pid)
        # The hanging process was killed, and reaped.
        self.assertEqual(k.zombie_children(), [])
        self.assertEqual(k.processes_with_marker(), [])

    def test_a_reload_while_one_runs_is_refused(self):
        k = self.start_from_copy()
        self.replace_binary("exec sleep 300")
        first = {}
        t = threading.Thread(target=lambda: first.update(k.request(cmd("RELOAD_DAEMON"), timeout=30)))
        t.start()
        wait_until(lambda: "Waiting for new daemon to become healthy" in self.log(), timeout=10)
        second = k.request(cmd("RELOAD_DAEMON"), timeout=30)
        self.assertEqual(second["result"], {"error": "Hot reload failed: a reload is already in progress",
                                            "status": "rollback_complete"})
        t.join(30)
        self.assertEqual(first["result"]["status"], "rollback_complete")


if __name__ == "__main__":
    unittest.main()
