"""Shared state, LOAD_STATE, identities and CLEANUP (spec §5.2, §5.12-5.19, §9.4-9.5)."""
import json
import os
import re
import time
import unittest

from ksid_harness import KsidTestCase

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z"


def cmd(name, **params):
    return {"command": name, "version": "2.0", "parameters": params}


class SharedState(KsidTestCase):
    def test_set_and_get_with_the_legacy_file_format(self):
        r = self.ksid.request(cmd("SET_SHARED", key="k1", value={"a": [1, 2.5, "\u00e9\U0001F916"], "b": None}))
        self.assertEqual(r, {"status": "success", "command": "SET_SHARED", "result": {"status": "set", "key": "k1"}})
        with open(self.ksid.path("shared_state", "k1.json"), "rb") as f:
            content = f.read().decode()
        self.assertRegex(content, r'^\{"value": \{"a": \[1, 2\.5, "\\u00e9\\ud83e\\udd16"\], "b": null\}, '
                                  r'"updated_at": "' + TS + r'"\}$')  # one line, no newline
        r = self.ksid.request(cmd("GET_SHARED", key="k1"))
        self.assertEqual(r["result"], {"key": "k1", "value": {"a": [1, 2.5, "\u00e9\U0001F916"], "b": None}})

    def test_get_of_an_unknown_key_is_null(self):
        self.assertEqual(self.ksid.request(cmd("GET_SHARED", key="nope"))["result"], {"key": "nope", "value": None})

    def test_get_reads_files_written_before_start(self):
        with open(self.ksid.path("shared_state", "test_key.json"), "w") as f:
            f.write('{"value": "test_value", "updated_at": "2025-06-22T15:17:30Z"}')
        self.assertEqual(self.ksid.request(cmd("GET_SHARED", key="test_key"))["result"]["value"], "test_value")

    def test_a_missing_key_is_none_as_legacy(self):
        r = self.ksid.request(cmd("SET_SHARED", value=1))
        self.assertEqual(r["result"], {"status": "set", "key": None})
        self.assertTrue(os.path.exists(self.ksid.path("shared_state", "None.json")))

    def test_keys_that_would_leave_shared_state_are_rejected(self):
        for key in ("../escape", "/tmp/abs", "a/b", "..", ".", "a\\b", "nul\u0000byte", "", ["x"], {"k": 1}, "x" * 300):
            r = self.ksid.request(cmd("SET_SHARED", key=key, value="v"))
            self.assertEqual(r["status"], "error", key)
            self.assertEqual(r["error"]["code"], "INVALID_KEY")
            r = self.ksid.request(cmd("GET_SHARED", key=key))
            self.assertEqual(r["error"]["code"], "INVALID_KEY")
        self.assertFalse(os.path.exists(self.ksid.path("escape.json")))
        self.assertFalse(os.path.exists("/tmp/abs.json"))
        self.assertEqual(self.health()["status"], "success")

    def test_null_parameters_fail_like_legacy(self):
        r = self.ksid.request({"command": "SET_SHARED", "version": "2.0", "parameters": None})
        self.assertEqual(r["error"], {"code": "COMMAND_PROCESSING_FAILED",
                                      "message": "'NoneType' object has no attribute 'get'",
                                      "timestamp": r["error"]["timestamp"]})

    def test_load_state_replaces_the_registries(self):
        self.ksid.request(cmd("SET_SHARED", key="disk", value="on disk"))
        r = self.ksid.request(cmd("LOAD_STATE", state_data={
            "agents": {"A": {"role": "r"}}, "sessions": {"s1": {}, "s2": {}}, "shared_state": {"mem": [1]}}))
        self.assertEqual(r["result"], {"status": "loaded", "message": "State loaded successfully",
                                       "state_keys": ["agents", "sessions", "shared_state"]})
        self.assertEqual(self.ksid.request(cmd("GET_SHARED", key="mem"))["result"]["value"], [1])
        # the file is still visible through GET_SHARED's fallback
        self.assertEqual(self.ksid.request(cmd("GET_SHARED", key="disk"))["result"]["value"], "on disk")
        r = self.ksid.request(cmd("CLEANUP", cleanup_type="sessions"))
        self.assertEqual(r["result"]["details"], "Cleared 2 tracked sessions")

    def test_load_state_errors(self):
        r = self.ksid.request(cmd("LOAD_STATE", state_data="nope"))
        self.assertEqual(r["error"]["code"], "LOAD_STATE_FAILED")
        self.assertEqual(r["error"]["message"], "'str' object has no attribute 'get'")
        r = self.ksid.request(cmd("LOAD_STATE"))
        self.assertEqual(r["error"]["message"], "'NoneType' object has no attribute 'get'")
        r = self.ksid.request(cmd("LOAD_STATE", state_data={"sessions": [1]}))
        self.assertEqual(r["error"]["code"], "LOAD_STATE_FAILED")

    def test_state_survives_a_restart(self):
        self.ksid.request(cmd("SET_SHARED", key="persist", value={"n": 42}))
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="agent-7", role="coder"))
        self.assertEqual(self.ksid.stop(), 0)
        self.ksid.start()
        self.assertEqual(self.ksid.request(cmd("GET_SHARED", key="persist"))["result"]["value"], {"n": 42})
        self.assertEqual(self.ksid.request(cmd("GET_IDENTITY", agent_id="agent-7"))["result"]["identity"]["role"],
                         "coder")


class Identities(KsidTestCase):
    def test_create_with_role_defaults(self):
        r = self.ksid.request(cmd("CREATE_IDENTITY", agent_id="research_bot_1234", role="researcher"))
        self.assertEqual(r["result"]["status"], "identity_created")
        i = r["result"]["identity"]
        self.assertEqual(list(i), ["identity_uuid", "agent_id", "display_name", "role", "personality_traits",
                                   "appearance", "created_at", "last_active", "conversation_count", "sessions",
                                   "preferences", "stats"])
        self.assertRegex(i["identity_uuid"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(i["display_name"], "Researcher-1234")
        self.assertEqual(i["personality_traits"], ["analytical", "thorough", "curious", "methodical"])
        self.assertEqual(i["appearance"], {"avatar_style": "academic", "color_theme": "blue",
                                           "icon": "\U0001F9D1\u200D\U0001F52C"})
        self.assertRegex(i["created_at"], TS)
        self.assertEqual(i["preferences"], {"communication_style": "professional", "verbosity": "moderate",
                                            "formality": "balanced"})
        self.assertEqual(i["stats"], {"messages_sent": 0, "conversations_participated": 0, "tasks_completed": 0,
                                      "tools_used": []})

    def test_create_without_role_and_with_list_traits(self):
        i = self.ksid.request(cmd("CREATE_IDENTITY", agent_id="abcdefghijkl"))["result"]["identity"]
        self.assertEqual(i["display_name"], "Agent-efghijkl")
        self.assertEqual(i["role"], "general")
        self.assertEqual(i["personality_traits"], ["adaptive", "helpful", "professional", "reliable"])
        self.assertEqual(i["appearance"]["icon"], "\U0001F916")
        # agent_process.py sends traits as a list and a title-cased display name
        i = self.ksid.request(cmd("CREATE_IDENTITY", agent_id="x1", display_name="Data_Analyst-x1",
                                  role="data_analyst", personality_traits=["a", "b"]))["result"]["identity"]
        self.assertEqual(i["display_name"], "Data_Analyst-x1")
        self.assertEqual(i["personality_traits"], ["a", "b"])
        i = self.ksid.request(cmd("CREATE_IDENTITY", agent_id="y", role="data_analyst"))["result"]["identity"]
        self.assertEqual(i["display_name"], "Data_Analyst-y")

    def test_identities_file_format(self):
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="ab"))
        with open(self.ksid.path("shared_state", "identities.json")) as f:
            text = f.read()
        self.assertTrue(text.startswith('{\n  "ab": {\n    "identity_uuid": "'))
        self.assertIn('"icon": "\\ud83e\\udd16"', text)
        self.assertIn('"sessions": [],\n', text)
        self.assertFalse(text.endswith("\n"))
        self.assertEqual(list(json.loads(text)), ["ab"])

    def test_update_get_list_remove(self):
        created = self.ksid.request(cmd("CREATE_IDENTITY", agent_id="a1", role="coder"))["result"]["identity"]
        time.sleep(0.01)
        r = self.ksid.request(cmd("UPDATE_IDENTITY", agent_id="a1", updates={
            "display_name": "Neo", "identity_uuid": "hacked", "agent_id": "other", "created_at": "x",
            "mood": "happy", "stats": {"messages_sent": 3}}))
        self.assertEqual(r["result"]["status"], "identity_updated")
        i = r["result"]["identity"]
        self.assertEqual(i["display_name"], "Neo")
        self.assertEqual(i["identity_uuid"], created["identity_uuid"])
        self.assertEqual(i["agent_id"], "a1")
        self.assertEqual(i["created_at"], created["created_at"])
        self.assertNotEqual(i["last_active"], created["last_active"])
        self.assertEqual(i["stats"], {"messages_sent": 3})  # nested objects are replaced wholesale
        self.assertEqual(list(i)[-1], "mood")  # new keys are appended
        self.assertEqual(self.ksid.request(cmd("GET_IDENTITY", agent_id="a1"))["result"],
                         {"status": "identity_found", "identity": i})
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="a2"))
        r = self.ksid.request(cmd("LIST_IDENTITIES"))["result"]
        self.assertEqual(r["status"], "identities_listed")
        self.assertEqual(r["count"], 2)
        self.assertEqual(list(r["identities"]), ["a1", "a2"])
        self.assertEqual(list(r["identities"]["a1"]), ["display_name", "role", "personality_traits", "last_active",
                                                       "stats"])
        r = self.ksid.request(cmd("REMOVE_IDENTITY", agent_id="a1"))
        self.assertEqual(r["result"], {"status": "identity_removed", "agent_id": "a1"})
        with open(self.ksid.path("shared_state", "identities.json")) as f:
            self.assertEqual(list(json.load(f)), ["a2"])

    def test_errors(self):
        for name in ("UPDATE_IDENTITY", "GET_IDENTITY", "REMOVE_IDENTITY"):
            r = self.ksid.request(cmd(name, agent_id="nobody", updates={}))
            self.assertEqual(r["error"]["code"], "IDENTITY_NOT_FOUND")
            self.assertEqual(r["error"]["message"], "Identity not found for agent nobody")
        r = self.ksid.request(cmd("CREATE_IDENTITY"))
        self.assertEqual(r["error"]["code"], "CREATE_IDENTITY_FAILED")
        self.assertEqual(r["error"]["message"], "'NoneType' object is not subscriptable")
        self.ksid.request(cmd("CREATE_IDENTITY", agent_id="a"))
        r = self.ksid.request(cmd("UPDATE_IDENTITY", agent_id="a", updates=["not", "an", "object"]))
        self.assertEqual(r["error"]["code"], "UPDATE_IDENTITY_FAILED")


class Cleanup(KsidTestCase):
    def touch(self, *parts, content="x"):
        with open(self.ksid.path(*parts), "w") as f:
            f.write(content)

    def test_logs(self):
        for name in ("a.jsonl", "b.jsonl", "message_bus.jsonl", "keep.txt"):
            self.touch("claude_logs", name)
        os.symlink("a.jsonl", self.ksid.path("claude_logs", "link.jsonl"))
        os.symlink("gone.jsonl", self.ksid.path("claude_logs", "latest.jsonl"))  # dangling
        r = self.ksid.request(cmd("CLEANUP", cleanup_type="logs"))
        self.assertEqual(r["result"], {"status": "cleaned", "cleanup_type": "logs", "details": "Removed 3 log files"})
        self.assertEqual(sorted(os.listdir(self.ksid.path("claude_logs"))), ["keep.txt", "link.jsonl"])

    def test_sockets_keeps_the_socket(self):
        self.touch("sockets", "last_session_id")
        self.touch("sockets", "claude_last_output.json")
        r = self.ksid.request(cmd("CLEANUP", cleanup_type="sockets"))
        self.assertEqual(r["result"]["details"], "Removed 3 socket files")  # + the PID file, as legacy
        self.assertEqual(os.listdir(self.ksid.path("sockets")), ["claude_daemon.sock"])
        self.assertEqual(self.health()["status"], "success")

    def test_all_and_unknown(self):
        self.touch("claude_logs", "s.jsonl")
        r = self.ksid.request(cmd("CLEANUP", cleanup_type="all"))
        self.assertEqual(r["result"]["details"],
                         "Complete cleanup: Removed 1 log files; Cleared 0 tracked sessions; Removed 1 socket files")
        r = self.ksid.request(cmd("CLEANUP", cleanup_type="everything"))
        self.assertEqual(r["result"], {"status": "cleaned", "cleanup_type": "everything",
                                       "details": "Unknown cleanup type: everything. Use: logs, sessions, sockets, or all"})
        r = self.ksid.request(cmd("CLEANUP"))
        self.assertEqual(r["result"]["cleanup_type"], None)

    def test_a_failure_is_reported_in_details(self):
        os.makedirs(self.ksid.path("sockets", "subdir"))
        r = self.ksid.request(cmd("CLEANUP", cleanup_type="sockets"))
        self.assertEqual(r["status"], "success")
        self.assertEqual(r["result"]["details"],
                         "Cleanup failed: IsADirectoryError: [Errno 21] Is a directory: 'sockets/subdir'")


if __name__ == "__main__":
    unittest.main()
