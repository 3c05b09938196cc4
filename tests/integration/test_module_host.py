"""RELOAD's Python modules (issue 15, spec §5.3): `RELOAD module_name` loads claude_modules/<name>.py in a
host process, whose handle_output(output, process_manager) then sees every sync SPAWN's output and every async
completion with a session, as KSI's observers (claude_modules/handler.py) expect. A module that raises, dies or
does not exist never troubles the daemon."""
import glob
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ksid_harness import KsidTestCase  # noqa: E402

# Like KSI's shipped handler: one observation file per output.
OBSERVER = """
import json, os, time
COUNT = [0]
def handle_output(output, process_manager):
    COUNT[0] += 1
    os.makedirs("cognitive_data", exist_ok=True)
    with open("cognitive_data/observation_%d_%d.json" % (int(time.time()), COUNT[0]), "w") as f:
        json.dump({"output": output, "has_processes": hasattr(process_manager, "processes")}, f)
    if "PLEASE RAISE" in str(output.get("result")):
        raise RuntimeError("the module failed on purpose")
    if "PLEASE EXIT" in str(output.get("result")):
        os._exit(3)
    print("observed", output.get("session_id"))
"""


def spawn(k, prompt, mode="sync", **extra):
    return k.request({"command": "SPAWN", "version": "2.0",
                      "parameters": dict(mode=mode, type="claude", prompt=prompt, **extra)}, timeout=30)


class ModuleHost(KsidTestCase):
    def setUp(self):
        super().setUp()
        os.makedirs(self.ksid.path("claude_modules"))
        with open(self.ksid.path("claude_modules", "observer.py"), "w") as f:
            f.write(OBSERVER)

    def reload(self, name):
        r = self.ksid.request({"command": "RELOAD", "version": "2.0", "parameters": {"module_name": name}})
        self.assertEqual(r["result"], {"status": "reloaded", "module": name, "message": "Module reloaded successfully"})

    def observations(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            files = sorted(glob.glob(self.ksid.path("cognitive_data", "observation_*.json")),
                           key=lambda p: (os.stat(p).st_mtime_ns, int(p.rsplit("_", 1)[1].split(".")[0])))
            if len(files) >= count or time.monotonic() > deadline:
                out = []
                for p in files:
                    with open(p) as f:
                        out.append(json.load(f))
                return out
            time.sleep(0.05)

    def log(self):
        with open(self.ksid.path("logs", "daemon.log")) as f:
            return f.read()

    def test_outputs_reach_handle_output(self):
        spawn(self.ksid, "before any module")  # not observed: nothing is loaded yet
        self.reload("observer")
        sync = spawn(self.ksid, "observe me")["result"]
        started = spawn(self.ksid, "observe me later", mode="async", agent_id="agent-7")
        self.assertEqual(started["result"]["status"], "started")
        obs = self.observations(2)
        self.assertEqual(len(obs), 2, self.log())
        self.assertEqual(obs[0]["output"], sync)  # the SPAWN's reply object itself
        self.assertTrue(obs[0]["has_processes"])
        self.assertEqual(obs[1]["output"]["result"], "ECHO: observe me later")
        self.assertEqual(obs[1]["output"]["agent_id"], "agent-7")
        self.assertEqual(obs[1]["output"]["process_id"], started["result"]["process_id"])
        time.sleep(0.2)
        self.assertIn("module claude_modules/observer.py: observed " + sync["session_id"], self.log())

    def test_a_failing_or_dying_module_never_troubles_the_daemon(self):
        self.reload("observer")
        spawn(self.ksid, "PLEASE RAISE")
        spawn(self.ksid, "fine again")
        self.assertEqual(len(self.observations(2)), 2)
        time.sleep(0.2)
        log = self.log()
        self.assertIn("handle_output failed:", log)
        self.assertIn("RuntimeError: the module failed on purpose", log)
        spawn(self.ksid, "PLEASE EXIT")
        deadline = time.monotonic() + 5
        while "its host exited (status 3)" not in self.log():
            self.assertLess(time.monotonic(), deadline, self.log())
            time.sleep(0.05)
        spawn(self.ksid, "not observed")  # no host: nothing waits, nothing grows
        self.assertEqual(self.health()["status"], "success")
        self.reload("observer")  # a RELOAD starts it again
        spawn(self.ksid, "observed again")
        obs = self.observations(4)
        self.assertEqual(obs[-1]["output"]["result"], "ECHO: observed again")
        self.assertEqual(self.ksid.zombie_children(), [])

    def test_modules_that_do_not_exist_or_are_no_module_names(self):
        for name in ("missing", "../observer", "/etc/passwd"):
            self.reload(name)
        spawn(self.ksid, "nothing loaded")
        self.assertEqual(self.observations(1, timeout=0.5), [])
        log = self.log()
        self.assertIn("claude_modules/missing.py does not exist; nothing was loaded", log)
        self.assertIn("'../observer' is not a module name", log)
        with open(self.ksid.path("claude_modules", "broken.py"), "w") as f:
            f.write("this is not python\n")
        self.reload("broken")
        deadline = time.monotonic() + 5
        while "its host exited (status 1)" not in self.log():
            self.assertLess(time.monotonic(), deadline, self.log())
            time.sleep(0.05)
        self.assertIn("cannot load claude_modules/broken.py", self.log())

    def test_reload_while_loaded_re_executes_the_loaded_module(self):
        self.reload("observer")
        with open(self.ksid.path("claude_modules", "other.py"), "w") as f:
            f.write("def handle_output(output, pm):\n    open('other-ran', 'w').write('x')\n")
        self.reload("other")  # the legacy manager re-ran the module it had loaded
        spawn(self.ksid, "who observes")
        self.assertEqual(len(self.observations(1)), 1)
        self.assertFalse(os.path.exists(self.ksid.path("other-ran")))
        self.assertIn("claude_modules/observer.py is loaded; it is re-executed", self.log())


class ModuleHostOff(KsidTestCase):
    ksid_env = {"KSID_MODULE_HOST": "false"}

    def test_off_loads_nothing(self):
        os.makedirs(self.ksid.path("claude_modules"))
        with open(self.ksid.path("claude_modules", "observer.py"), "w") as f:
            f.write(OBSERVER)
        r = self.ksid.request({"command": "RELOAD", "version": "2.0", "parameters": {"module_name": "observer"}})
        self.assertEqual(r["result"]["status"], "reloaded")
        spawn(self.ksid, "x")
        time.sleep(0.3)
        self.assertFalse(os.path.exists(self.ksid.path("cognitive_data")))


if __name__ == "__main__":
    unittest.main()
