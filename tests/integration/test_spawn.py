"""SPAWN and GET_PROCESSES with the fake claude (spec §5.1, §5.21, §6): replies, side effects, faults."""
import json
import os
import re
import signal
import socket
import threading
import time
import unittest

from ksid_harness import Ksid, KsidTestCase, read_all

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z"
LEGACY_TOOLS = "Task Bash Glob Grep LS Read Edit MultiEdit Write WebFetch WebSearch"


def spawn(mode="sync", **params):
    return {"command": "SPAWN", "version": "2.0", "parameters": dict(mode=mode, type="claude", **params)}


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class SyncSpawn(KsidTestCase):
    def test_sync_reply_is_claudes_output_and_argv_is_legacy(self):
        r = self.ksid.request(spawn(prompt="hello there"))
        self.assertEqual(r["status"], "success")
        self.assertEqual(r["command"], "SPAWN")
        out = r["result"]
        self.assertEqual(out["result"], "ECHO: hello there")
        self.assertEqual(out["argv"], ["claude", "--model", "sonnet", "--print", "--output-format", "json",
                                       "--allowedTools", LEGACY_TOOLS])
        self.assertEqual(out["cwd"], os.path.realpath(self.ksid.dir))
        r = self.ksid.request(spawn(prompt="x", model="opus", enable_tools=False, session_id="sess-1111"))
        self.assertEqual(r["result"]["argv"], ["claude", "--model", "opus", "--print", "--output-format", "json",
                                               "--resume", "sess-1111"])
        self.assertEqual(r["result"]["session_id"], "sess-1111")

    def test_side_effects_files_and_session_log(self):
        out = self.ksid.request(spawn(prompt="Hi there"))["result"]
        s = out["session_id"]
        with open(self.ksid.path("sockets", "claude_last_output.json")) as f:
            text = f.read()
        self.assertFalse(text.endswith("\n"))
        self.assertTrue(text.startswith('{\n  "type": "result",\n'))
        self.assertEqual(json.loads(text), out)
        with open(self.ksid.path("sockets", "last_session_id")) as f:
            self.assertEqual(f.read(), s)
        self.assertEqual(os.readlink(self.ksid.path("claude_logs", "latest.jsonl")), s + ".jsonl")
        with open(self.ksid.path("claude_logs", s + ".jsonl")) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        human, claude = json.loads(lines[0]), json.loads(lines[1])
        self.assertEqual(list(human), ["timestamp", "type", "content"])
        self.assertEqual(human["type"], "human")
        self.assertEqual(human["content"], "Hi there")
        self.assertRegex(human["timestamp"], TS)
        self.assertEqual(claude["type"], "claude")
        self.assertEqual(list(claude)[0], "type")  # kept in place
        self.assertEqual(list(claude)[-1], "timestamp")
        self.assertEqual(claude["result"], "ECHO: Hi there")
        self.assertTrue(lines[0].startswith('{"timestamp": "'))  # Python's separators

    def test_resume_appends_to_the_same_log(self):
        s = self.ksid.request(spawn(prompt="one"))["result"]["session_id"]
        self.ksid.request(spawn(prompt="two", session_id=s))
        with open(self.ksid.path("claude_logs", s + ".jsonl")) as f:
            self.assertEqual(len(f.read().splitlines()), 4)

    def test_latest_link_and_last_session_id_follow_the_last_run(self):
        a = self.ksid.request(spawn(prompt="a"))["result"]["session_id"]
        self.ksid.request(spawn(prompt="a again", session_id=a))  # unchanged: left in place
        b = self.ksid.request(spawn(prompt="b"))["result"]["session_id"]
        self.assertEqual(os.readlink(self.ksid.path("claude_logs", "latest.jsonl")), b + ".jsonl")
        self.ksid.request(spawn(prompt="back to a", session_id=a))
        self.assertEqual(os.readlink(self.ksid.path("claude_logs", "latest.jsonl")), a + ".jsonl")
        with open(self.ksid.path("sockets", "last_session_id")) as f:
            self.assertEqual(f.read(), a)
        os.unlink(self.ksid.path("sockets", "last_session_id"))  # e.g. CLEANUP sockets
        self.ksid.request(spawn(prompt="a once more", session_id=a))
        with open(self.ksid.path("sockets", "last_session_id")) as f:
            self.assertEqual(f.read(), a)

    def test_a_dangling_latest_link_is_replaced(self):
        os.symlink("7771a567-3f39-40ee-b36a-75e62106bb37.jsonl", self.ksid.path("claude_logs", "latest.jsonl"))
        out = self.ksid.request(spawn(prompt="hi"))["result"]
        self.assertNotIn("error", out)
        self.assertEqual(os.readlink(self.ksid.path("claude_logs", "latest.jsonl")), out["session_id"] + ".jsonl")

    def test_output_variants(self):
        out = self.ksid.request(spawn(prompt="FAKE:crash"))["result"]
        self.assertEqual(out, {"error": "No output from claude", "returncode": 3,
                               "stderr": "fake claude: simulated crash\n"})
        out = self.ksid.request(spawn(prompt="FAKE:invalid"))["result"]
        self.assertEqual(out["error"], "Invalid JSON from claude: Expecting value: line 1 column 1 (char 0)")
        self.assertEqual(out["returncode"], 0)
        self.assertEqual(out["raw_stdout"], "this is not json\n")
        out = self.ksid.request(spawn(prompt="FAKE:nonzero"))["result"]
        self.assertEqual(out["result"], "ECHO: FAKE:nonzero")  # exit status ignored when stdout parses
        out = self.ksid.request(spawn(prompt="FAKE:stderr"))["result"]
        self.assertEqual(list(out)[-1], "stderr")
        self.assertEqual(out["stderr"], "warning: fake stderr noise\n")
        out = self.ksid.request(spawn(prompt="FAKE:list"))["result"]
        self.assertEqual(out, {"error": "AttributeError: 'list' object has no attribute 'get'", "returncode": -1})
        out = self.ksid.request(spawn(prompt="FAKE:badutf8"))["result"]
        self.assertTrue(out["error"].startswith("UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff"))
        out = self.ksid.request(spawn(prompt=""))["result"]
        self.assertEqual(out["error"], "No output from claude")
        self.assertEqual(out["returncode"], 1)
        self.assertIn("Input must be provided", out["stderr"])

    def test_a_session_id_from_the_cli_that_is_not_valid_names_no_file(self):
        out = self.ksid.request(spawn(prompt="FAKE:badsession"))["result"]
        self.assertEqual(out["session_id"], "../../etc/passwd")
        self.assertFalse(os.path.exists(self.ksid.path("sockets", "last_session_id")))
        self.assertEqual([n for n in os.listdir(self.ksid.path("claude_logs"))], [])

    def test_child_hygiene_fds_process_group_cwd(self):
        out = self.ksid.request(spawn(prompt="FAKE:fds FAKE:pgid"))["result"]
        # 0, 1, 2 and the descriptor opendir() used to list them: nothing leaked from the daemon
        self.assertLessEqual(set(out["fds"]), {0, 1, 2, 3})
        self.assertTrue(out["own_process_group"])

    def test_large_prompt_to_a_child_that_never_reads_stdin(self):
        self.ksid.stop()
        self.ksid = Ksid(env={"FAKE_CLAUDE_MODE": "noread"}).start()
        out = self.ksid.request(spawn(prompt="y" * 60000))["result"]
        self.assertIn("FAKE:noread", out["result"])

    def test_descendants_holding_the_pipes_do_not_hold_the_run(self):
        start = time.monotonic()
        out = self.ksid.request(spawn(prompt="FAKE:grandchild"), timeout=30)["result"]
        self.assertIn("result", out)
        self.assertLess(time.monotonic() - start, 5)
        self.assertTrue(wait_for(lambda: self.ksid.processes_with_marker() == [], 5), "grandchild left running")

    def test_a_grandchild_that_calls_setsid_does_not_outlive_its_run(self):
        # It leaves the run's process group and session (a daemonising tool) and starts a child of its
        # own; ksid, a child subreaper, inherits it when the run ends and kills it and its child.
        out = self.ksid.request(spawn(prompt="FAKE:setsid-grandchild"), timeout=30)["result"]
        self.assertIn("result", out)
        with open(self.ksid.path("setsid_grandchild.pid")) as f:
            pids = [int(p) for p in f.read().split()]

        def gone(pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return False  # running, or a zombie ksid has not reaped
            except OSError:
                return True  # not even a zombie: reaped
        self.assertTrue(wait_for(lambda: all(gone(p) for p in pids), 5), f"escaped processes left: {pids}")
        self.assertEqual(self.ksid.processes_with_marker(), [])
        self.assertEqual(self.ksid.zombie_children(), [])
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertIn("left behind by finished runs outside their process group", f.read())
        # A run that is still going keeps what it started, even outside its group, while other runs end.
        os.unlink(self.ksid.path("setsid_grandchild.pid"))
        r = self.ksid.request(spawn(prompt="FAKE:setsid-grandchild FAKE:linger=2500", mode="async", agent_id="a"))
        self.assertEqual(r["status"], "success")
        self.assertTrue(wait_for(lambda: os.path.exists(self.ksid.path("setsid_grandchild.pid")), 5))
        with open(self.ksid.path("setsid_grandchild.pid")) as f:
            pids = [int(p) for p in f.read().split()]
        self.ksid.request(spawn(prompt="another run ends"), timeout=30)
        time.sleep(1.3)  # past the sweeps after that run's end
        self.assertFalse(any(gone(p) for p in pids), "killed while its run was still going")
        self.assertTrue(wait_for(lambda: all(gone(p) for p in pids), 8), f"escaped processes left: {pids}")

    def test_parameter_errors(self):
        r = self.ksid.request({"command": "SPAWN", "version": "2.0", "parameters": {"prompt": "x"}})
        self.assertEqual(r["error"]["code"], "INVALID_MODE")
        self.assertEqual(r["error"]["message"], "Invalid mode: None")
        r = self.ksid.request(spawn(mode="later", prompt="x"))
        self.assertEqual(r["error"]["message"], "Invalid mode: later")
        r = self.ksid.request(spawn())
        self.assertEqual(r["error"], {"code": "COMMAND_PROCESSING_FAILED",
                                      "message": "'NoneType' object is not subscriptable",
                                      "timestamp": r["error"]["timestamp"]})
        for bad in ({"model": "--dangerously-skip-permissions"}, {"model": "gpt-4"}, {"model": 5},
                    {"session_id": "--fork-session"}, {"session_id": "../../x"}, {"session_id": 7}):
            r = self.ksid.request(spawn(prompt="x", **bad))
            self.assertEqual(r["status"], "error", bad)
            self.assertEqual(r["error"]["code"], "INVALID_PARAMETER", bad)
        r = self.ksid.request(spawn(prompt="x", model="claude-sonnet-4-5"))
        self.assertEqual(r["result"]["argv"][2], "claude-sonnet-4-5")


class Limits(KsidTestCase):
    ksid_env = {"KSID_RUN_TIME_LIMIT": "1", "KSID_KILL_GRACE": "0.5", "KSID_MAX_OUTPUT_BYTES": "1MiB"}

    def test_a_hung_run_is_killed_at_the_time_limit(self):
        start = time.monotonic()
        out = self.ksid.request(spawn(prompt="FAKE:hang"), timeout=20)["result"]
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn("time limit", out["error"])
        self.assertEqual(out["returncode"], -signal.SIGTERM)
        self.assertTrue(wait_for(lambda: self.ksid.processes_with_marker() == [], 5))

    def test_a_run_that_ignores_sigterm_gets_sigkill(self):
        out = self.ksid.request(spawn(prompt="FAKE:hang-ignore-term"), timeout=20)["result"]
        self.assertEqual(out["returncode"], -signal.SIGKILL)
        self.assertTrue(wait_for(lambda: self.ksid.processes_with_marker() == [], 5))

    def test_output_over_the_cap_fails_the_run_not_the_daemon(self):
        out = self.ksid.request(spawn(prompt="FAKE:huge"), timeout=20)["result"]
        self.assertIn("max_output_bytes", out["error"])
        self.assertEqual(self.health()["status"], "success")


class Missing(KsidTestCase):
    ksid_env = {"KSID_CLAUDE_COMMAND": "claude-not-installed-anywhere"}

    def test_executable_not_found(self):
        out = self.ksid.request(spawn(prompt="x"))["result"]
        self.assertEqual(out, {"error": "claude executable not found in PATH",
                               "details": "[Errno 2] No such file or directory: 'claude-not-installed-anywhere'"})
        r = self.ksid.request(spawn(mode="async", prompt="x"))
        self.assertEqual(r["error"]["code"], "SPAWN_FAILED")
        self.assertEqual(r["error"]["message"], "Failed to start Claude process")


class AsyncSpawn(KsidTestCase):
    def test_async_reply_process_table_and_logs(self):
        r = self.ksid.request(spawn(mode="async", prompt="FAKE:sleep=400 later", agent_id="A1"))
        self.assertEqual(list(r["result"]), ["process_id", "status", "type", "mode"])
        pid = r["result"]["process_id"]
        self.assertRegex(pid, r"^[0-9a-f]{8}$")
        self.assertEqual(r["result"]["status"], "started")
        procs = self.ksid.request({"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]
        self.assertIn(pid, procs)
        self.assertEqual(procs[pid]["agent_id"], "A1")
        self.assertEqual(procs[pid]["model"], "sonnet")
        self.assertIsNone(procs[pid]["session_id"])
        self.assertRegex(procs[pid]["started_at"], TS)
        self.assertTrue(wait_for(lambda: not self.ksid.request(
            {"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]))
        logs = [n for n in os.listdir(self.ksid.path("claude_logs")) if n != "message_bus.jsonl"]
        self.assertEqual(len(logs), 1)
        with open(self.ksid.path("claude_logs", logs[0])) as f:
            human, claude = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(list(human), ["timestamp", "type", "content", "process_id", "agent_id"])
        self.assertEqual(human["process_id"], pid)
        self.assertEqual(list(claude)[-3:], ["process_id", "agent_id", "timestamp"])
        # async runs never touch the sync-only convenience files
        self.assertFalse(os.path.exists(self.ksid.path("sockets", "last_session_id")))
        self.assertFalse(os.path.exists(self.ksid.path("claude_logs", "latest.jsonl")))
        with open(self.ksid.path("claude_logs", "message_bus.jsonl")) as f:
            event = json.loads(f.read().splitlines()[-1])
        self.assertEqual(event["type"], "PROCESS_COMPLETE")
        self.assertEqual(event["process_id"], pid)
        self.assertEqual(event["status"], "success")


class Queue(KsidTestCase):
    ksid_env = {"KSID_MAX_CONCURRENT": "1", "KSID_MAX_PENDING": "1"}

    def test_queued_runs_and_a_full_queue(self):
        first = self.ksid.request(spawn(mode="async", prompt="FAKE:sleep=1500"))["result"]["process_id"]
        second = self.ksid.request(spawn(mode="async", prompt="FAKE:sleep=10"))["result"]["process_id"]
        procs = self.ksid.request({"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]
        self.assertEqual(procs[first]["status"], "running")
        self.assertEqual(procs[second]["status"], "queued")
        self.assertIsNone(procs[second]["started_at"])
        r = self.ksid.request(spawn(mode="async", prompt="x"))
        self.assertEqual(r["status"], "error")
        self.assertEqual(r["error"]["code"], "QUEUE_FULL")
        r = self.ksid.request(spawn(prompt="x"))
        self.assertEqual(r["status"], "success")  # sync SPAWN reports it in result.error
        self.assertEqual(r["result"]["code"], "QUEUE_FULL")
        self.assertIn("queue is full", r["result"]["error"])
        self.assertTrue(wait_for(lambda: not self.ksid.request(
            {"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]))

    def test_concurrent_sync_clients_all_get_their_own_answer(self):
        results = {}

        def client(i):
            results[i] = self.ksid.request(spawn(prompt=f"FAKE:sleep=50 n{i}"), timeout=30)["result"]

        # 1 running + 1 pending at a time: run them in pairs so none is refused
        for batch in range(3):
            threads = [threading.Thread(target=client, args=(batch * 2 + j,)) for j in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for i, out in results.items():
            self.assertTrue(out["result"].endswith(f" n{i}"), out)


class Shutdown(unittest.TestCase):
    def test_shutdown_kills_children_and_answers_waiting_clients(self):
        k = Ksid().start()
        try:
            replies = {}

            def waiting_client():
                replies["sync"] = k.request(spawn(prompt="FAKE:hang-ignore-term"), timeout=20)

            t = threading.Thread(target=waiting_client)
            t.start()
            k.request(spawn(mode="async", prompt="FAKE:hang"))
            self.assertTrue(wait_for(lambda: len(k.processes_with_marker()) == 2))
            start = time.monotonic()
            k.proc.send_signal(signal.SIGTERM)
            self.assertEqual(k.wait(10), 0)
            self.assertLess(time.monotonic() - start, 5)
            t.join(10)
            self.assertIn("shutting down", replies["sync"]["result"]["error"])
            self.assertEqual(k.processes_with_marker(), [])
        finally:
            k.cleanup()


if __name__ == "__main__":
    unittest.main()
