"""logs/daemon.log says what the legacy daemon's said, in its words where KSI users grep for them (the
legacy log had a line per SPAWN, agent connect and disconnect, subscription, identity change; ksid's was
far sparser), in the legacy format `<time> - daemon - <LEVEL> - <message>`, with ksid's ids added after
the legacy text."""
import json
import re
import time
import unittest

from ksid_harness import KsidTestCase, wait_until


def cmd(name, **params):
    return {"command": name, "version": "2.0", "parameters": params}


class LegacyLogLines(KsidTestCase):

    def log(self):
        with open(self.ksid.path("logs", "daemon.log")) as f:
            return f.read()

    def assert_logged(self, level, pattern):
        line = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - daemon - " + level + " - " + pattern
        self.assertRegex(self.log(), re.compile(line, re.M))

    def test_the_lines_ksi_users_grep_for(self):
        k = self.ksid
        # Start-up.
        self.assert_logged("INFO", r"PID file written: sockets/claude_daemon\.pid \(PID \d+\)$")
        self.assert_logged("INFO", r"Modular daemon listening on sockets/claude_daemon\.sock")

        # SPAWN, both modes: the first 50 characters of the prompt, then ksid's job id.
        prompt = "Please say hello to the whole wide world, and then some more words here"
        self.assertEqual(k.request(cmd("SPAWN", mode="sync", prompt=prompt))["status"], "success")
        self.assert_logged("INFO", re.escape(f"Synchronous Claude spawn: {prompt[:50]}... (job ") + r"[0-9a-f]+\)$")
        started = k.request(cmd("SPAWN", mode="async", prompt="async hello", agent_id="asyncer"))
        process_id = started["result"]["process_id"]
        self.assert_logged("INFO", re.escape("Asynchronous Claude spawn: async hello...") + "$")
        self.assert_logged("INFO", re.escape("Sending prompt to Claude: 11 bytes") + "$")
        self.assert_logged("INFO", re.escape(f"Started Claude process {process_id} with model ") + r"\S+$")
        wait_until(lambda: f"Claude process {process_id} completed successfully" in self.log(), timeout=15)

        # An agent's persistent connection: connect, subscribe, queued delivery, the end of the connection.
        k.request(cmd("PUBLISH", from_agent="x", event_type="DIRECT_MESSAGE",
                      payload={"to": "watcher", "content": "while you were away"}))
        s = k.connect()
        s.sendall((json.dumps(cmd("AGENT_CONNECTION", action="connect", agent_id="watcher")) + "\n").encode())
        reader = s.makefile("rb")
        reader.readline()
        s.sendall((json.dumps(cmd("SUBSCRIBE", agent_id="watcher", event_types=["BROADCAST", "TASK"])) + "\n")
                  .encode())
        wait_until(lambda: "Agent watcher subscribed to TASK" in self.log(), timeout=5)
        self.assert_logged("INFO", r"Agent watcher connected to message bus$")
        self.assert_logged("INFO", r"Maintaining persistent connection for agent watcher \(connection \d+\)$")
        self.assert_logged("INFO", r"Delivering 1 queued messages to watcher$")
        self.assert_logged("INFO", r"Delivered 1 queued messages to watcher$")
        self.assert_logged("INFO", r"Agent watcher subscribed to BROADCAST$")
        reader.close()
        s.close()
        wait_until(lambda: "Disconnected agent watcher" in self.log(), timeout=5)
        log = self.log()
        order = [log.index(t) for t in ("Closed persistent connection for agent watcher",
                                        "Agent watcher disconnected from message bus", "Disconnected agent watcher")]
        self.assertEqual(order, sorted(order), "the legacy order of the three lines")
        self.assertEqual(k.request(cmd("SUBSCRIBE", agent_id="nobody", event_types=["X"]))["status"], "error")
        self.assert_logged("WARNING", r"Cannot subscribe nobody - not connected$")

        # State, identities, agents.
        k.request(cmd("SET_SHARED", key="plan", value=1))
        self.assert_logged("INFO", r"Set shared state: plan$")
        k.request(cmd("CREATE_IDENTITY", agent_id="ident", display_name="Ida"))
        k.request(cmd("UPDATE_IDENTITY", agent_id="ident", updates={"role": "x"}))
        k.request(cmd("REMOVE_IDENTITY", agent_id="ident"))
        self.assert_logged("INFO", r"Created identity 'Ida' for agent ident$")
        self.assert_logged("INFO", r"Updated identity for agent ident$")
        self.assert_logged("INFO", r"Removed identity for agent ident$")
        k.request(cmd("REGISTER_AGENT", agent_id="coder1", role="coder", capabilities=["python"]))
        self.assert_logged("INFO", r"Registered agent coder1 with role coder$")
        k.request(cmd("ROUTE_TASK", task="write code", required_capabilities=["python"]))
        self.assert_logged("INFO", r"Routed task to agent coder1 \(score: 1\)$")

        # Requests that are wrong: the legacy line for a first line that is not JSON, and ksid's own for
        # the rest (the legacy daemon logged nothing for them).
        k.exchange(b"not json\n")
        self.assert_logged("WARNING", r"Invalid JSON received: Expecting value: line 1 column 1 \(char 0\) "
                                      r"\(connection \d+\)$")
        k.request(cmd("NO_SUCH_COMMAND"))
        self.assert_logged("WARNING", r"Invalid request on connection \d+: UNKNOWN_COMMAND: Command 'NO_SUCH_COMMAND' not "
                                      r"recognized$")
        k.request(cmd("SPAWN", mode="sideways", prompt="x"))
        self.assert_logged("WARNING", r"Invalid request on connection \d+: SPAWN: INVALID_MODE: ")

        # Shutdown.
        k.request(cmd("SHUTDOWN"))
        self.assertEqual(k.wait(10), 0)
        self.assert_logged("INFO", r"Received SHUTDOWN command$")
        self.assert_logged("INFO", r"Graceful shutdown complete$")
        self.assert_logged("INFO", r"PID file cleaned up$")

    def test_a_signal_and_the_identities_loaded_at_start(self):
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="a"))
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="b"))
        self.assertEqual(self.ksid.stop(), 0)
        self.assert_logged("INFO", r"Received signal SIGTERM, initiating shutdown\.\.\.$")
        self.ksid.start()
        self.assert_logged("INFO", r"Loaded 2 existing identities$")


if __name__ == "__main__":
    unittest.main()
