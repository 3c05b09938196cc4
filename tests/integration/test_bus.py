"""The message bus and agents (spec §5.4-5.11, §7): persistent connections, routing, offline queues,
back-pressure, PROCESS_COMPLETE, SPAWN_AGENT with a real agent process and AGENT_TERMINATED."""
import json
import os
import re
import socket
import sys
import time
import unittest

from ksid_harness import SOURCE_DIR, Ksid, KsidTestCase, read_all, read_line

AGENT_SCRIPT = os.path.join(SOURCE_DIR, "tests", "fixtures", "agent", "agent_process.py")


def cmd(name, **params):
    return {"command": name, "version": "2.0", "parameters": params}


class Agent:
    """A persistent connection, as PersistentAsyncClient opens it."""

    def __init__(self, ksid, agent_id):
        self.id = agent_id
        self.sock = ksid.connect(timeout=5)
        self.sock.sendall((json.dumps(cmd("AGENT_CONNECTION", action="connect", agent_id=agent_id)) + "\n").encode())
        self.buf = b""
        self.connect_reply = self.next()

    def next(self, timeout=5):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def nothing_within(self, seconds=0.3):
        try:
            msg = self.next(timeout=seconds)
        except socket.timeout:
            return True
        raise AssertionError(f"{self.id} got an unexpected line: {msg}")

    def send(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())

    def close(self):
        self.sock.close()


class Bus(KsidTestCase):
    def setUp(self):
        super().setUp()
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            a.close()
        super().tearDown()

    def agent(self, agent_id, *subscriptions):
        a = Agent(self.ksid, agent_id)
        self.agents.append(a)
        if subscriptions:
            r = self.ksid.request(cmd("SUBSCRIBE", agent_id=agent_id, event_types=list(subscriptions)))
            self.assertEqual(r["result"], {"status": "subscribed", "agent_id": agent_id, "event_types": list(subscriptions)})
        return a

    def test_direct_message_reaches_the_recipient_twice_when_it_also_subscribes(self):
        a1 = self.agent("A1", "DIRECT_MESSAGE")
        self.assertEqual(a1.connect_reply["result"], {"status": "connected", "agent_id": "A1", "action": "connect"})
        r = self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="DIRECT_MESSAGE",
                                  payload={"to": "A1", "content": "yo", "conversation_id": "c1"}))
        self.assertEqual(r["result"], {"status": "delivered", "to": "A1", "notified": ["A1"]})
        m1, m2 = a1.next(), a1.next()
        self.assertEqual(m1, m2)
        self.assertEqual(list(m1), ["id", "type", "from", "timestamp", "to", "content", "conversation_id"])
        self.assertRegex(m1["id"], r"^\d{10}\.\d+$")
        self.assertEqual((m1["type"], m1["from"], m1["content"]), ("DIRECT_MESSAGE", "B", "yo"))
        a1.nothing_within()

    def test_offline_queue_is_flushed_after_the_connect_reply(self):
        r = self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="DIRECT_MESSAGE",
                                  payload={"to": "OFF", "content": "later"}))
        self.assertEqual(r["result"], {"status": "queued", "to": "OFF", "notified": []})
        stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
        self.assertEqual(stats["offline_queues"], {"OFF": 1})
        off = self.agent("OFF")
        self.assertEqual(off.connect_reply["result"]["status"], "connected")  # the reply comes first
        self.assertEqual(off.next()["content"], "later")
        self.assertEqual(self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]["offline_queues"], {})

    def test_broadcast_excludes_the_sender_and_generic_events_include_it(self):
        a1 = self.agent("A1", "BROADCAST", "CONVERSATION_INVITE")
        a2 = self.agent("A2", "BROADCAST", "CONVERSATION_INVITE")
        r = self.ksid.request(cmd("PUBLISH", from_agent="A1", event_type="BROADCAST", payload={"content": "hi all"}))
        self.assertEqual(r["result"], {"status": "broadcast", "delivered": ["A2"], "failed": [], "total": 1})
        self.assertEqual(a2.next()["content"], "hi all")
        a1.nothing_within()
        r = self.ksid.request(cmd("PUBLISH", from_agent="A1", event_type="CONVERSATION_INVITE",
                                  payload={"to": "A2", "topic": "t"}))
        self.assertEqual(r["result"]["status"], "published")
        self.assertEqual(sorted(r["result"]["delivered_to"]), ["A1", "A2"])
        self.assertEqual(a1.next()["type"], "CONVERSATION_INVITE")
        self.assertEqual(a2.next()["type"], "CONVERSATION_INVITE")

    def test_routing_errors_and_task_assignment(self):
        r = self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="DIRECT_MESSAGE", payload={"content": "x"}))
        self.assertEqual(r["result"], {"status": "error", "error": "No recipient specified"})
        r = self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="TASK_ASSIGNMENT", payload={"task": "x"}))
        self.assertEqual(r["result"], {"status": "error", "error": "No capable agent found"})
        w = self.agent("W")
        r = self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="TASK_ASSIGNMENT", payload={"to": "W", "task": "x"}))
        self.assertEqual(r["result"]["status"], "delivered")
        self.assertEqual(w.next()["type"], "TASK_ASSIGNMENT")
        r = self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="X", payload=["not", "an", "object"]))
        self.assertEqual(r["status"], "error")
        r = self.ksid.request(cmd("SUBSCRIBE", agent_id="ghost", event_types=["X"]))
        self.assertEqual(r["error"]["code"], "SUBSCRIBE_FAILED")
        self.assertEqual(r["error"]["message"], "Agent ghost not connected")
        r = self.ksid.request(cmd("AGENT_CONNECTION", action="hover", agent_id="x"))
        self.assertEqual(r["error"], {"code": "INVALID_ACTION", "message": "Invalid action: hover",
                                      "timestamp": r["error"]["timestamp"]})
        r = self.ksid.request(cmd("AGENT_CONNECTION", action="disconnect", agent_id="never-seen"))
        self.assertEqual(r["result"], {"status": "disconnected", "agent_id": "never-seen", "action": "disconnect"})
        history = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]["history_size"]
        self.assertEqual(history, 3)  # every built message is recorded, routed or not
        with open(self.ksid.path("claude_logs", "message_bus.jsonl")) as f:
            self.assertEqual(len(f.read().splitlines()), 3)

    def test_disconnect_on_eof_and_stats(self):
        a = self.agent("A", "PROCESS_COMPLETE", "DIRECT_MESSAGE")
        stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
        self.assertEqual(stats["connected_agents"], ["A"])
        self.assertEqual(stats["subscriptions"], {"PROCESS_COMPLETE": ["A"], "DIRECT_MESSAGE": ["A"]})
        a.close()
        self.agents.remove(a)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
            if not stats["connected_agents"]:
                break
            time.sleep(0.02)
        self.assertEqual(stats["connected_agents"], [])
        self.assertEqual(stats["subscriptions"], {"PROCESS_COMPLETE": [], "DIRECT_MESSAGE": []})

    def test_a_closed_connection_forgets_every_id_and_subscription_bound_to_it(self):
        a = self.agent("A", "BROADCAST")
        for extra in ("B", "C"):  # later connect lines bind more ids to the same connection
            a.send(cmd("AGENT_CONNECTION", action="connect", agent_id=extra))
            self.assertEqual(a.next()["result"]["agent_id"], extra)
            a.send(cmd("SUBSCRIBE", agent_id=extra, event_types=["BROADCAST", "TYPE_" + extra]))
            self.assertEqual(a.next()["result"]["status"], "subscribed")
        again = self.agent("A2", "BROADCAST")  # another connection, which stays
        stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
        self.assertEqual(sorted(stats["connected_agents"]), ["A", "A2", "B", "C"])
        a.close()
        self.agents.remove(a)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(stats["connected_agents"]) > 1:
            stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
            time.sleep(0.02)
        # The legacy daemon kept B and C "connected" to a dead socket; their messages were lost.
        self.assertEqual(stats["connected_agents"], ["A2"])
        self.assertEqual(stats["subscriptions"], {"BROADCAST": ["A2"], "TYPE_B": [], "TYPE_C": []})
        r = self.ksid.request(cmd("PUBLISH", from_agent="X", event_type="DIRECT_MESSAGE",
                                  payload={"to": "B", "content": "kept"}))
        self.assertEqual(r["result"]["status"], "queued")  # waits for B to connect again

    def test_event_types_without_subscribers_are_bounded(self):
        a = self.agent("A")
        for n in range(0, 1100, 100):
            a.send(cmd("SUBSCRIBE", agent_id="A", event_types=[f"T{i}" for i in range(n, n + 100)]))
            self.assertEqual(a.next()["result"]["status"], "subscribed")
        a.close()
        self.agents.remove(a)
        deadline = time.monotonic() + 5
        stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
        while time.monotonic() < deadline and len(stats["subscriptions"]) > 1024:
            stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
            time.sleep(0.05)
        self.assertEqual(len(stats["subscriptions"]), 1024)  # the newest empty ones stay listed
        self.assertIn("T1099", stats["subscriptions"])
        self.assertNotIn("T0", stats["subscriptions"])

    def test_process_complete_from_async_spawn(self):
        watcher = self.agent("W", "PROCESS_COMPLETE")
        r = self.ksid.request(cmd("SPAWN", mode="async", type="claude", prompt="async hi", agent_id="A9"))
        pid = r["result"]["process_id"]
        event = watcher.next(timeout=10)
        self.assertEqual(list(event), ["id", "type", "from", "timestamp", "process_id", "agent_id", "session_id",
                                       "result", "status"])
        self.assertEqual((event["type"], event["from"], event["process_id"], event["agent_id"], event["status"]),
                         ("PROCESS_COMPLETE", "daemon", pid, "A9", "success"))
        self.assertEqual(event["result"], "ECHO: async hi")
        self.ksid.request(cmd("SPAWN", mode="async", type="claude", prompt="FAKE:invalid", agent_id="A9"))
        event = watcher.next(timeout=10)
        self.assertEqual(event["status"], "error")
        self.assertEqual(event["error"], "Expecting value: line 1 column 1 (char 0)")

    def test_agents_registry_and_routing(self):
        r = self.ksid.request(cmd("REGISTER_AGENT", agent_id="r1", role="researcher", capabilities=["web", "code,math"]))
        self.assertEqual(r["result"], {"status": "registered", "agent_id": "r1"})
        self.ksid.request(cmd("REGISTER_AGENT", agent_id="r2", role="coder", capabilities=["code", "math"]))
        agents = self.ksid.request(cmd("GET_AGENTS"))["result"]["agents"]
        self.assertEqual(list(agents), ["r1", "r2"])
        self.assertEqual(agents["r1"]["capabilities"], ["web", "code", "math"])
        self.assertEqual(list(agents["r1"]), ["role", "capabilities", "status", "created_at", "sessions"])
        r = self.ksid.request(cmd("ROUTE_TASK", task="sum", required_capabilities=["math", "code"], context="ctx"))
        self.assertEqual(r["result"], {"status": "routed", "assigned_agent": "r1", "agent_role": "researcher",
                                       "match_score": 2, "message": "TASK_ASSIGNMENT: sum\nCONTEXT: ctx"})
        with open(self.ksid.path("claude_logs", "task_routing.jsonl")) as f:
            line = json.loads(f.read())
        self.assertEqual(list(line), ["timestamp", "type", "task", "required_capabilities", "assigned_agent",
                                      "agent_capabilities", "match_score"])
        r = self.ksid.request(cmd("ROUTE_TASK", task="t", required_capabilities=["cooking"]))
        self.assertEqual(r["result"]["status"], "no_suitable_agent")
        r = self.ksid.request(cmd("ROUTE_TASK", task="t"))
        self.assertEqual(r["result"]["status"], "no_suitable_agent")
        self.ksid.request(cmd("LOAD_STATE", state_data={"agents": {"busy": {"role": "x", "capabilities": ["math"],
                                                                           "status": "working"}}}))
        r = self.ksid.request(cmd("ROUTE_TASK", task="t", required_capabilities=["math"]))
        self.assertEqual(r["result"]["status"], "no_available_agent")
        self.assertEqual(r["result"]["suitable_agents"][0]["agent_id"], "busy")


class StalledReader(KsidTestCase):
    ksid_env = {"KSID_MAX_OUTBOX_BYTES": "64KiB"}

    def test_a_subscriber_that_stops_reading_is_dropped_and_stalls_nobody(self):
        stalled = Agent(self.ksid, "STALLED")
        reader = Agent(self.ksid, "READER")
        self.ksid.request(cmd("SUBSCRIBE", agent_id="STALLED", event_types=["BROADCAST"]))
        self.ksid.request(cmd("SUBSCRIBE", agent_id="READER", event_types=["BROADCAST"]))
        stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = "x" * 8000
        got = 0
        failed = set()
        for i in range(300):
            r = self.ksid.request(cmd("PUBLISH", from_agent="SRC", event_type="BROADCAST", payload={"n": i, "pad": big}))
            failed.update(r["result"]["failed"])
            while True:  # the reader keeps up
                try:
                    reader.sock.settimeout(0.001)
                    chunk = reader.sock.recv(1 << 20)
                    got += chunk.count(b"\n")
                except socket.timeout:
                    break
        self.assertIn("STALLED", failed)
        stats = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]
        self.assertNotIn("STALLED", stats["connected_agents"])
        reader.sock.settimeout(5)
        while got < 300:
            got += reader.sock.recv(1 << 20).count(b"\n")
        self.assertEqual(got, 300)
        self.assertEqual(self.health()["status"], "success")
        stalled.close()
        reader.close()


class OfflineQueueBytes(KsidTestCase):
    """Offline queues are bounded in bytes, per agent and for all agents, not only by count (60 KB messages
    used to grow the daemon by 1.1 GB in 19 s)."""
    ksid_config = "daemon:\n  max_offline_bytes: 256KiB\n  max_offline_total_bytes: 1MiB\n"

    def publish(self, to, n, size=60000):
        return self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="DIRECT_MESSAGE",
                                     payload={"to": to, "n": n, "pad": "x" * size}))

    def test_queues_keep_their_newest_messages_within_the_byte_bounds(self):
        for n in range(100):  # 6 MB for one agent: only the newest 4 (~240 KB) fit its 256 KiB
            self.assertEqual(self.publish("OFF", n)["result"]["status"], "queued")
        self.assertEqual(self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]["offline_queues"], {"OFF": 4})
        for agent in range(10):  # 10 more agents with 4 each: the total bound (1 MiB) drops the oldest queues
            for n in range(4):
                self.publish(f"A{agent}", n)
        queues = self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]["offline_queues"]
        self.assertLessEqual(sum(queues.values()), 1048576 // 60000)
        self.assertNotIn("OFF", queues)  # the oldest went first
        self.assertEqual(queues["A9"], 4)  # the newest stayed
        with open(self.ksid.path("logs", "daemon.log")) as f:
            log = f.read()
        self.assertEqual(log.count("Offline queue of OFF is full"), 1, log)  # once per burst, not per message
        self.assertEqual(log.count("daemon.max_offline_total_bytes"), 1, log)
        a9 = Agent(self.ksid, "A9")
        self.assertEqual([a9.next()["n"] for _ in range(4)], [0, 1, 2, 3])  # in order, whole
        self.ksid.request(cmd("AGENT_CONNECTION", action="disconnect", agent_id="A9"))
        for n in range(10):  # a new burst after a flush is logged again, once
            self.publish("A9", n)
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertEqual(f.read().count("Offline queue of A9 is full"), 1)
        a9.close()


class SpawnAgent(KsidTestCase):
    ksid_env = {"KSID_AGENT_COMMAND": f"{sys.executable} {AGENT_SCRIPT}"}

    def test_spawn_agent_runs_a_real_agent_that_answers_and_terminates(self):
        tester = Agent(self.ksid, "tester")
        self.ksid.request(cmd("SUBSCRIBE", agent_id="tester", event_types=["AGENT_TERMINATED"]))
        r = self.ksid.request(cmd("SPAWN_AGENT", profile_name="helper_profile", task="say hello", context="ctx"))
        res = r["result"]
        self.assertEqual(list(res), ["status", "process_id", "agent_id", "composition_used", "fallback_used"])
        self.assertEqual(res["status"], "spawned")
        self.assertEqual(res["composition_used"], "claude_agent_default")  # no compositions: fallback
        self.assertTrue(res["fallback_used"])
        agent_id = res["agent_id"]
        self.assertRegex(agent_id, r"^claude_agent_default_[0-9a-f]{8}$")
        agents = self.ksid.request(cmd("GET_AGENTS"))["result"]["agents"]
        self.assertIn(agent_id, agents)  # the id in the reply is the one registered
        self.assertEqual(agents[agent_id]["role"], "Claude Agent Default")
        self.assertEqual(agents[agent_id]["initial_task"], "say hello")
        procs = self.ksid.request(cmd("GET_PROCESSES"))["result"]["processes"]
        self.assertEqual(procs[res["process_id"]]["agent_id"], agent_id)
        self.assertIsNone(procs[res["process_id"]]["model"])
        # wait for the agent to connect, then talk to it
        deadline = time.monotonic() + 10
        while agent_id not in self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]["subscriptions"].get(
                "DIRECT_MESSAGE", []) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(self.ksid.path(f"agent_argv_{agent_id}.json")) as f:
            self.assertEqual(json.load(f), ["--id", agent_id, "--profile", "helper_profile", "--socket",
                                            "sockets/claude_daemon.sock"])
        r = self.ksid.request(cmd("PUBLISH", from_agent="tester", event_type="DIRECT_MESSAGE",
                                  payload={"to": agent_id, "content": "ping"}))
        self.assertEqual(r["result"]["status"], "delivered")
        self.assertEqual(tester.next(timeout=10)["content"], "pong: ping")
        self.ksid.request(cmd("PUBLISH", from_agent="tester", event_type="DIRECT_MESSAGE",
                              payload={"to": agent_id, "content": "[END]"}))
        self.assertEqual(tester.next(timeout=10)["content"], "pong: [END]")
        event = tester.next(timeout=10)
        self.assertEqual(event["type"], "AGENT_TERMINATED")
        self.assertEqual((event["process_id"], event["agent_id"], event["returncode"]),
                         (res["process_id"], agent_id, 0))
        self.assertNotIn(res["process_id"], self.ksid.request(cmd("GET_PROCESSES"))["result"]["processes"])
        tester.close()
        # The legacy daemon's lines for it (test_daemon_log.py has the rest).
        with open(self.ksid.path("logs", "daemon.log")) as f:
            log = f.read()
        pid = res["process_id"]
        for line in (f"Selected composition 'claude_agent_default' for agent helper_profile (score: 0.000)",
                     f"Spawning agent process with command: {sys.executable} {AGENT_SCRIPT} --id {agent_id} "
                     f"--profile helper_profile --socket sockets/claude_daemon.sock",
                     f"Started agent process {pid} for agent {agent_id}",
                     f"Spawned agent {agent_id} using composition claude_agent_default with initial task: say hello",
                     f"Agent {agent_id} (process {pid}) completed with code 0"):
            self.assertIn(" - daemon - INFO - " + line, log)

    def test_spawn_agent_parameter_checks_and_shutdown_stops_agents(self):
        r = self.ksid.request(cmd("SPAWN_AGENT", profile_name="--evil", task="x"))
        self.assertEqual(r["error"]["code"], "INVALID_PARAMETER")
        r = self.ksid.request(cmd("SPAWN_AGENT", profile_name="p", task="x", agent_id="../../x"))
        self.assertEqual(r["error"]["code"], "INVALID_PARAMETER")
        r = self.ksid.request(cmd("SPAWN_AGENT", profile_name="p", task="x", agent_id="keeper"))
        self.assertEqual(r["result"]["agent_id"], "keeper")
        deadline = time.monotonic() + 10
        while not self.ksid.processes_with_marker() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(self.ksid.processes_with_marker())  # tearDown checks they are gone after SIGTERM


class OversizedOfflineMessages(KsidTestCase):
    ksid_config = "daemon:\n  max_offline_bytes: 1KiB\n"

    def test_a_message_larger_than_a_queue_is_not_queued_and_logged_once(self):
        for n in range(5):
            r = self.ksid.request(cmd("PUBLISH", from_agent="B", event_type="DIRECT_MESSAGE",
                                      payload={"to": f"OFF{n}", "pad": "x" * 2000}))
            self.assertEqual(r["result"]["status"], "queued")  # the legacy reply; the queue cannot take it
        self.assertEqual(self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]["offline_queues"], {})
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertEqual(f.read().count("is over daemon.max_offline_bytes (1024); not queued"), 1)


class AgentProcessCap(KsidTestCase):
    """SPAWN_AGENT is bounded (300 agents held 912 fds): past daemon.max_agent_processes a clear error."""
    ksid_env = {"KSID_AGENT_COMMAND": f"{sys.executable} {AGENT_SCRIPT}", "KSID_MAX_AGENT_PROCESSES": "2"}

    def spawn(self, agent_id):
        return self.ksid.request(cmd("SPAWN_AGENT", profile_name="p", task="x", agent_id=agent_id))

    def processes(self):
        return self.ksid.request(cmd("GET_PROCESSES"))["result"]["processes"]

    def test_spawn_agent_is_refused_at_the_cap_and_allowed_again_when_one_exits(self):
        self.assertEqual(self.spawn("a1")["result"]["status"], "spawned")
        self.assertEqual(self.spawn("a2")["result"]["status"], "spawned")
        r = self.spawn("a3")
        self.assertEqual((r["status"], r["error"]["code"]), ("error", "SPAWN_AGENT_FAILED"))
        self.assertIn("2 agent processes are running, the most daemon.max_agent_processes allows",
                      r["error"]["message"])
        self.assertEqual(len(self.processes()), 2)
        self.assertNotIn("a3", self.ksid.request(cmd("GET_AGENTS"))["result"]["agents"])
        deadline = time.monotonic() + 10
        while "a1" not in self.ksid.request(cmd("MESSAGE_BUS_STATS"))["result"]["subscriptions"].get(
                "DIRECT_MESSAGE", []) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.ksid.request(cmd("PUBLISH", from_agent="t", event_type="DIRECT_MESSAGE",
                              payload={"to": "a1", "content": "[END]"}))
        while len(self.processes()) == 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.spawn("a3")["result"]["status"], "spawned")
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertIn("SPAWN_AGENT a3: 2 agent processes are running (daemon.max_agent_processes)", f.read())


class MissingAgentCommand(KsidTestCase):
    ksid_env = {"KSID_AGENT_COMMAND": "no-such-agent-runner"}

    def test_spawn_agent_failed(self):
        r = self.ksid.request(cmd("SPAWN_AGENT", profile_name="p", task="x"))
        self.assertEqual(r["error"]["code"], "SPAWN_AGENT_FAILED")
        self.assertEqual(r["error"]["message"], "Failed to spawn agent with composition claude_agent_default")


if __name__ == "__main__":
    unittest.main()
