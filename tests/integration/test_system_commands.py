"""HEALTH_CHECK, GET_COMMANDS, RELOAD, RELOAD_DAEMON (spec §5)."""
import os
import signal
import time
import unittest

from ksid_harness import KsidTestCase

COMMANDS = [
    ("SPAWN", "process_control"), ("CLEANUP", "process_control"), ("RELOAD", "process_control"),
    ("REGISTER_AGENT", "agent_management"), ("GET_AGENTS", "agent_management"),
    ("SPAWN_AGENT", "agent_management"), ("ROUTE_TASK", "agent_management"),
    ("SUBSCRIBE", "message_bus"), ("PUBLISH", "message_bus"), ("AGENT_CONNECTION", "message_bus"),
    ("MESSAGE_BUS_STATS", "message_bus"), ("SET_SHARED", "state_management"),
    ("GET_SHARED", "state_management"), ("LOAD_STATE", "state_management"),
    ("CREATE_IDENTITY", "identity_management"), ("UPDATE_IDENTITY", "identity_management"),
    ("GET_IDENTITY", "identity_management"), ("LIST_IDENTITIES", "identity_management"),
    ("REMOVE_IDENTITY", "identity_management"), ("HEALTH_CHECK", "system_status"),
    ("GET_COMMANDS", "system_status"), ("GET_PROCESSES", "system_status"),
    ("GET_COMPOSITIONS", "system_status"), ("GET_COMPOSITION", "system_status"),
    ("VALIDATE_COMPOSITION", "system_status"), ("LIST_COMPONENTS", "system_status"),
    ("COMPOSE_PROMPT", "system_status"), ("SHUTDOWN", "system_control"), ("RELOAD_DAEMON", "system_control"),
]


class SystemCommands(KsidTestCase):
    def test_health_check(self):
        self.assertEqual(self.health(), {"status": "success", "command": "HEALTH_CHECK", "result": {
            "status": "healthy", "message": "HEALTHY", "uptime_info": "Daemon is running normally"}})

    def test_get_commands_lists_all_29_in_order_with_groups(self):
        reply = self.ksid.request({"command": "GET_COMMANDS", "version": "2.0", "parameters": {}})
        result = reply["result"]
        self.assertEqual(list(result), ["commands", "total_commands", "protocol_version"])
        self.assertEqual([(name, v["type"]) for name, v in result["commands"].items()], COMMANDS)
        self.assertTrue(all(v["protocol"] == "JSON v2.0" for v in result["commands"].values()))
        self.assertEqual(result["total_commands"], 29)
        self.assertEqual(result["protocol_version"], "2.0")

    def test_reload_answers_like_legacy(self):
        reply = self.ksid.request({"command": "RELOAD", "version": "2.0", "parameters": {"module_name": "handler"}})
        self.assertEqual(reply["result"], {"status": "reloaded", "module": "handler",
                                           "message": "Module reloaded successfully"})
        reply = self.ksid.request({"command": "RELOAD", "version": "2.0"})
        self.assertIsNone(reply["result"]["module"])
        reply = self.ksid.request({"command": "RELOAD", "version": "2.0", "parameters": None})
        self.assertEqual(reply["error"]["code"], "COMMAND_PROCESSING_FAILED")
        self.assertEqual(reply["error"]["message"], "'NoneType' object has no attribute 'get'")
        with open(self.ksid.path("logs", "daemon.log")) as f:
            self.assertIn("claude_modules/handler.py does not exist; nothing was loaded", f.read())

    def test_reload_daemon_upgrades_in_place(self):
        # The whole behaviour is in test_upgrade.py; here the reply shape: the legacy success.
        start = time.monotonic()
        reply = self.ksid.request({"command": "RELOAD_DAEMON", "version": "2.0"}, timeout=60)
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(reply, {"status": "success", "command": "RELOAD_DAEMON", "result": {"status": "reloaded"}})
        self.assertEqual(self.health()["status"], "success")  # the new daemon answers
        with open(self.ksid.path("sockets", "claude_daemon.pid")) as f:
            new_pid = int(f.read())
        self.assertNotEqual(new_pid, self.ksid.proc.pid)
        self.assertEqual(self.ksid.proc.wait(30), 0)  # the old one has gone
        os.kill(new_pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{new_pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(f"/proc/{new_pid}"))

if __name__ == "__main__":
    unittest.main()
