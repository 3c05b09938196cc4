"""The live dashboard (GET /dashboard) in Debian's headless Chromium, driven by playwright-core: the page
signs in with an admin key, shows a turn started through the socket within a second, its Cancel button
stops that turn (the SPAWN's agent is told, the ledger says who stopped it), and the usage charts draw.
Screenshots are kept in build/test-artifacts/dashboard/ for a person to look at. Also: who may see the
page and its data, and the cookie's guard against cross-site requests."""
import json
import os
import shutil
import subprocess
import time
import unittest

from test_usage_and_keys import TeamCase
from ksid_harness import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "..", "..", "build", "tools", "node_modules")
HAVE_BROWSER = os.path.exists(os.path.join(NODE_MODULES, "playwright-core")) and os.path.exists("/usr/bin/chromium")
ARTIFACTS = os.environ.get("KSID_TEST_ARTIFACTS") or os.path.join(HERE, "..", "..", "build", "test-artifacts")
if not HAVE_BROWSER and os.environ.get("KSID_REQUIRE_REAL_CLAUDE"):
    raise RuntimeError("chromium and playwright-core are required but missing: run scripts/test-deps")


class DashboardAccess(TeamCase):
    def test_the_page_and_its_data_need_an_admin_key(self):
        boss = self.add_key("boss", "--admin")
        user = self.add_key("user")
        self.assertEqual(self.http("GET", "/dashboard")[0], 401)
        self.assertEqual(self.http("GET", "/dashboard", key=user)[0], 403)
        self.assertEqual(self.http("GET", "/dashboard?key=" + user)[0], 403)
        self.assertEqual(self.http("GET", "/dashboard?key=wrong-key-1234")[0], 401)
        status, headers, body = self.http("GET", "/dashboard", key=boss)
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers["content-type"])
        self.assertEqual(headers["x-frame-options"], "DENY")
        self.assertIn("frame-ancestors 'none'", headers["content-security-policy"])
        self.assertIn(b"/admin/events", body)
        self.assertNotIn(b"http://", body.replace(b"http://www.w3.org/2000/svg", b""))  # nothing from elsewhere
        # Signing in: the key goes into an HttpOnly cookie and the address loses it.
        req = f"GET /dashboard?key={boss} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        import socket
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(req)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
        self.assertIn(b"303", head.split(b"\r\n")[0])
        self.assertIn(b"Location: /dashboard", head)
        self.assertIn(f"Set-Cookie: ksid_admin={boss}; Path=/; HttpOnly; SameSite=Strict".encode(), head)
        cookie = {"Cookie": "ksid_admin=" + boss}
        self.assertEqual(self.http("GET", "/admin/state", headers=cookie)[0], 200)
        # A change with the cookie alone (what another site's page could send) is refused.
        self.assertEqual(self.http("DELETE", "/admin/turns/nope", headers=cookie)[0], 403)
        self.assertEqual(self.http("DELETE", "/admin/turns/nope", headers=dict(cookie, **{"X-Ksid-Dashboard": "1"}))[0],
                         404)
        # The cookie is not a key for the API routes.
        self.assertEqual(self.http("GET", "/v1/models", headers=cookie)[0], 401)

    def test_the_snapshot(self):
        boss = self.add_key("boss", "--admin")
        self.assertEqual(self.chat(boss)[0], 200)
        self.ksid.request({"command": "CONNECT_AGENT", "version": "2.0", "agent_id": "watcher"})
        state = json.loads(self.http("GET", "/admin/state", key=boss)[2])
        self.assertEqual(state["daemon"]["pid"], self.ksid.proc.pid)
        self.assertEqual(state["queue"]["max_concurrent"], 4)
        keys = {k["key"]: k for k in state["usage"]["keys"]}
        self.assertEqual(keys["boss"]["today"]["requests"], 1)
        self.assertEqual(sum(state["usage"]["series"]["by_key"]["boss"]), 9)
        self.assertEqual(len(state["usage"]["series"]["by_model"]["sonnet"]), 60)


@unittest.skipUnless(HAVE_BROWSER, "chromium or playwright-core missing: run scripts/test-deps")
class DashboardInChromium(TeamCase):
    def test_a_socket_turn_shows_within_a_second_and_cancel_stops_it(self):
        boss = self.add_key("boss", "--admin")
        alice = self.add_key("alice", "--rpm", "100", "--daily-usd", "5")
        for i in range(3):  # usage for the charts: two keys, two models
            self.assertEqual(self.chat(alice, f"c{i}", model="haiku" if i else "sonnet")[0], 200)
        self.assertEqual(self.chat(boss, "x")[0], 200)
        self.chat(alice, "FAKE:ratelimit=allowed_warning:%d" % (time.time() + 3600))  # a subscription row
        self.http("POST", "/v1/chat/completions", {"model": "nope"}, key=alice)  # an error row
        shots = os.path.join(ARTIFACTS, "dashboard")
        shutil.rmtree(shots, ignore_errors=True)
        browser = subprocess.Popen(
            ["node", os.path.join(HERE, "dashboard_browser.mjs"), f"{self.base}/dashboard?key={boss}", "-", shots],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, KSID_NODE_MODULES=NODE_MODULES))
        try:
            ready = browser.stdout.readline()
            self.assertEqual(ready.strip(), "READY", ready + browser.stderr.read() if not ready else ready)
            # A turn started through the socket while the page is open.
            r = self.ksid.request({"command": "SPAWN", "version": "2.0",
                                   "parameters": {"mode": "async", "prompt": "FAKE:sleep=30000 long", "agent_id": "a1"}})
            job = r["result"]["process_id"]
            browser.stdin.write(job + "\n")
            browser.stdin.flush()
            out, err = browser.communicate(timeout=90)
        finally:
            if browser.poll() is None:
                browser.kill()
        result = json.loads(out.strip().splitlines()[-1])
        self.assertTrue(result.get("ok"), f"{result}\n{err}")
        self.assertLess(result["appeared_ms"], 1000, result)
        self.assertGreaterEqual(result["series"]["keys"], 2)
        self.assertGreaterEqual(result["series"]["models"], 2)
        for name in ("dashboard-running.png", "dashboard-after-cancel.png"):
            self.assertGreater(os.path.getsize(os.path.join(shots, name)), 20000, name)
        # Cancel stopped the run; the ledger says who stopped it.
        wait_until(lambda: self.ledger("SELECT outcome FROM turns WHERE job_id=?", job) == [("cancelled_by_admin",)], timeout=10)
        self.assertEqual(self.ksid.processes_with_marker(), [], "the cancelled run's process is gone")


if __name__ == "__main__":
    unittest.main()
