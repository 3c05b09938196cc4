"""A team shares one ksid (issue "per-key limits and quotas, a usage ledger, subscription limits, a live
dashboard"): keys with limits managed by `ksid keys` and /admin/keys without a restart, exact limits under
concurrent load with OpenAI's and Anthropic's rate-limit headers, budgets that survive a restart (the ledger
is the truth), a key revoked mid-run, the ledger after SIGKILL, the socket clients' own limits, and the
Claude subscription's rejection as a 429 until its reset."""
import concurrent.futures
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

from ksid_harness import KSID_BIN, Ksid, KsidTestCase, free_port, wait_until


def chat_body(content, stream=False, model="sonnet"):
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}


class TeamCase(KsidTestCase):
    usage_config = ""

    def setUp(self):
        self.port = free_port()
        self.ksid_env = {"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.port)}
        if self.usage_config:
            self.ksid_config = self.usage_config
        super().setUp()
        self.base = f"http://127.0.0.1:{self.port}"

    def keys(self, *args, check=True, workdir=None):
        """`ksid keys ...` in the daemon's working directory: (exit status, stdout, stderr)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KSID_")}
        out = subprocess.run([KSID_BIN, *args], cwd=workdir or self.ksid.dir, env=env, capture_output=True,
                             text=True, timeout=30)
        if check:
            self.assertEqual(out.returncode, 0, out.stderr)
        return out.returncode, out.stdout, out.stderr

    def add_key(self, name, *limits):
        code, out, err = self.keys("keys", "add", name, *limits)
        secret = out.strip()
        self.assertTrue(secret.startswith("ksid-"), out + err)
        # The running daemon sees the new key within a second.
        def known():
            status, _, body = self.http("GET", "/v1/usage", key=secret)
            return status == 200 and json.loads(body)["key"] == name
        wait_until(known, timeout=5)
        return secret

    def http(self, method, path, body=None, key=None, headers=None, timeout=30):
        """(status, lower-cased headers, body bytes)."""
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + key
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def chat(self, key, content="hi", timeout=30, **kw):
        return self.http("POST", "/v1/chat/completions", chat_body(content, **kw), key=key, timeout=timeout)

    def ledger(self, sql, *args):
        db = sqlite3.connect(self.ksid.path("usage", "ksid.sqlite3"), timeout=5)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()


class LimitsUnderLoad(TeamCase):
    def test_requests_per_minute_are_exact_under_concurrent_load_with_headers(self):
        alice = self.add_key("alice", "--rpm", "5")
        bob = self.add_key("bob")  # no limits: never throttled by alice's window
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda i: self.chat(alice, f"n{i}"), range(12)))
        ok = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] == 429]
        self.assertEqual((len(ok), len(refused)), (5, 7), [r[0] for r in results])
        self.assertEqual(sorted(int(r[1]["x-ratelimit-remaining-requests"]) for r in ok), [0, 1, 2, 3, 4])
        for status, headers, body in ok + refused:
            self.assertEqual(headers["x-ratelimit-limit-requests"], "5")
            self.assertRegex(headers["x-ratelimit-reset-requests"], r"^(\d+m)?\d+(\.\d+)?s$")
        for status, headers, body in refused:
            self.assertEqual(headers["x-ratelimit-remaining-requests"], "0")
            self.assertTrue(1 <= int(headers["retry-after"]) <= 60, headers)
            err = json.loads(body)["error"]
            self.assertEqual(err["type"], "rate_limit_error")
            self.assertIn("5 requests per minute", err["message"])
        self.assertEqual(self.chat(bob)[0], 200)
        self.assertNotIn("x-ratelimit-limit-requests", self.chat(bob)[1])
        # The Anthropic route says the same in its own headers.
        status, headers, body = self.http("POST", "/v1/messages", {"model": "sonnet", "max_tokens": 10,
                                          "messages": [{"role": "user", "content": "x"}]},
                                          headers={"x-api-key": alice, "anthropic-version": "2023-06-01"})
        self.assertEqual(status, 429)
        self.assertEqual(json.loads(body)["error"]["type"], "rate_limit_error")
        self.assertEqual(headers["anthropic-ratelimit-requests-limit"], "5")
        self.assertEqual(headers["anthropic-ratelimit-requests-remaining"], "0")
        self.assertRegex(headers["anthropic-ratelimit-requests-reset"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # The ledger has every one of them, refusals apart.
        rows = dict(self.ledger("SELECT admitted, count(*) FROM turns WHERE key='alice' GROUP BY admitted"))
        self.assertEqual(rows, {1: 5, 0: 8})

    def test_concurrency_limit_and_token_window(self):
        carol = self.add_key("carol", "--concurrent", "2", "--tpm", "100000")
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda i: self.chat(carol, f"FAKE:sleep=1500 c{i}"), range(6)))
        statuses = sorted(r[0] for r in results)
        self.assertEqual(statuses, [200, 200, 429, 429, 429, 429])
        for status, headers, body in results:
            self.assertEqual(headers["x-ratelimit-limit-tokens"], "100000")
            if status == 429:
                self.assertIn("concurrent: 2", json.loads(body)["error"]["message"])
                self.assertEqual(headers["retry-after"], "1")
        # Once they finished, the window holds what they really used (fake CLI: 3 + 1 cache writes + 5 per
        # turn; cache reads do not count) and this one's estimate (1).
        status, headers, _ = self.chat(carol)
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["x-ratelimit-remaining-tokens"]), 100000 - 2 * 9 - 1)

    def test_allowed_models_and_tools(self):
        dave = self.add_key("dave", "--models", "haiku", "--tools", "no")
        status, _, body = self.chat(dave, model="sonnet")
        self.assertEqual(status, 403)
        err = json.loads(body)["error"]
        self.assertEqual(err["type"], "permission_error")
        self.assertIn("may not use the model 'sonnet'", err["message"])
        self.assertEqual(self.chat(dave, model="haiku")[0], 200)


class BudgetsAndTheLedger(TeamCase):
    def test_a_daily_budget_holds_across_a_restart(self):
        erin = self.add_key("erin", "--daily-requests", "3")
        for i in range(3):
            self.assertEqual(self.chat(erin, f"b{i}")[0], 200)
        status, headers, body = self.chat(erin)
        self.assertEqual(status, 429)
        self.assertIn("daily request budget (3 of 3)", json.loads(body)["error"]["message"])
        to_midnight = 86400 - int(time.time()) % 86400
        self.assertLessEqual(abs(int(headers["retry-after"]) - to_midnight), 2)
        # A new daemon in the same directory reads the day's usage from the ledger.
        self.assertEqual(self.ksid.stop(), 0)
        self.ksid.start()
        status, _, body = self.chat(erin)
        self.assertEqual(status, 429, body)
        # Raised without a restart: the next request goes through.
        self.keys("keys", "set", "erin", "--daily-requests", "4")
        wait_until(lambda: json.loads(self.http("GET", "/v1/usage", key=erin)[2])["limits"]["daily_requests"] == 4)
        self.assertEqual(self.chat(erin)[0], 200)
        _, out, _ = self.keys("usage", "--json")
        rows = {r["key"]: r for r in json.loads(out)}
        self.assertEqual(rows["erin"]["requests"], 4)
        self.assertEqual(rows["erin"]["refused"], 2)

    def test_a_usd_budget(self):
        frank = self.add_key("frank", "--daily-usd", "0.00025")  # the fake CLI's turns cost 0.0001
        self.assertEqual([self.chat(frank, f"u{i}")[0] for i in range(4)], [200, 200, 200, 429])

    def test_every_answered_turn_is_in_the_ledger_after_sigkill(self):
        gina = self.add_key("gina")
        answered, stop = [], threading.Event()

        def client(n):
            while not stop.is_set():
                try:
                    status, headers, _ = self.chat(gina, f"k{n}", timeout=5)
                except OSError:
                    return
                if status == 200:
                    answered.append(headers["x-request-id"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(answered) >= 40, timeout=30)
        self.ksid.proc.send_signal(signal.SIGKILL)
        self.ksid.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(self.ledger("PRAGMA integrity_check"), [("ok",)])
        recorded = {r[0] for r in self.ledger("SELECT request_id FROM turns WHERE key='gina' AND admitted=1")}
        self.assertEqual(set(answered) - recorded, set(), "answered turns missing from the ledger")
        # The daemon starts again on the same database.
        self.ksid.start()
        self.assertEqual(self.chat(gina)[0], 200)


class KeysManaged(TeamCase):
    def test_a_key_revoked_while_its_request_runs(self):
        boss = self.add_key("boss", "--admin")
        hank = self.add_key("hank")
        result = {}
        t = threading.Thread(target=lambda: result.update(r=self.chat(hank, "FAKE:sleep=5000 long")))
        t.start()
        wait_until(lambda: self.ledger("SELECT count(*) FROM turns")[0][0] == 0 and
                   json.loads(self.http("GET", "/admin/state", key=boss)[2])["turns"] != [], timeout=5)
        started = time.monotonic()
        self.keys("keys", "revoke", "hank")
        t.join(10)
        status, _, body = result["r"]
        self.assertEqual(status, 401, body)
        self.assertIn("revoked", json.loads(body)["error"]["message"])
        self.assertLess(time.monotonic() - started, 3)  # stopped, not run to its end
        self.assertEqual(self.chat(hank)[0], 401)
        self.assertEqual(self.ledger("SELECT outcome FROM turns WHERE key='hank'"), [("key_revoked",)])
        _, out, _ = self.keys("keys", "list")
        self.assertRegex(out, r"hank .*revoked")

    def test_admin_endpoints(self):
        boss = self.add_key("boss", "--admin")
        ivy = self.add_key("ivy")
        self.assertEqual(self.http("GET", "/admin/keys", key=ivy)[0], 403)
        self.assertEqual(self.http("GET", "/admin/keys")[0], 401)
        status, _, body = self.http("POST", "/admin/keys", {"name": "jack", "limits": {"rpm": 1}}, key=boss)
        self.assertEqual(status, 201, body)
        jack = json.loads(body)["key"]
        self.assertEqual(self.chat(jack)[0], 200)  # usable at once
        self.assertEqual(self.chat(jack)[0], 429)
        self.assertEqual(self.http("POST", "/admin/keys", {"name": "jack"}, key=boss)[0], 409)
        self.assertEqual(self.http("POST", "/admin/keys", {"name": "x", "limits": {"rpm": -1}}, key=boss)[0], 400)
        self.assertEqual(self.http("POST", "/admin/keys", {"name": "bad name"}, key=boss)[0], 400)
        status, _, body = self.http("PATCH", "/admin/keys/jack", {"limits": {"rpm": 10}}, key=boss)
        self.assertEqual((status, json.loads(body)["limits"]["rpm"]), (200, 10))
        self.assertEqual(self.chat(jack)[0], 200)
        listed = {k["name"]: k for k in json.loads(self.http("GET", "/admin/keys", key=boss)[2])["data"]}
        self.assertEqual(set(listed), {"boss", "ivy", "jack"})
        self.assertNotIn("key", listed["jack"])  # the secret is never shown again
        status, _, body = self.http("GET", "/admin/usage?group_by=key,model", key=boss)
        rows = {(r["key"], r["model"]): r for r in json.loads(body)["data"]}
        self.assertEqual(rows[("jack", "sonnet")]["requests"], 2)
        self.assertEqual(rows[("jack", "sonnet")]["refused"], 1)
        status, _, body = self.http("GET", "/v1/usage?group_by=model,day", key=jack)
        mine = json.loads(body)
        self.assertEqual((status, mine["key"], mine["today"]["requests"]), (200, "jack", 2))
        self.assertEqual(mine["data"][0]["day"], time.strftime("%Y-%m-%d", time.gmtime()))
        self.assertEqual(self.http("GET", "/admin/usage?start=bogus", key=boss)[0], 400)
        self.assertEqual(self.http("DELETE", "/admin/keys/jack", key=boss)[0], 200)
        self.assertEqual(self.chat(jack)[0], 401)
        self.assertEqual(self.http("DELETE", "/admin/keys/jack", key=boss)[0], 404)

    def test_the_command_line(self):
        code, out, err = self.keys("keys", "add", "kim", "--rpm", "ten", check=False)
        self.assertEqual(code, 2)
        self.assertIn("--rpm: expected a whole number", err)
        code, out, err = self.keys("keys", "set", "nobody", "--rpm", "1", check=False)
        self.assertEqual(code, 1)
        self.assertIn("no key named 'nobody'", err)
        self.keys("keys", "add", "kim", "--daily-usd", "2.5", "--models", "sonnet,haiku")
        code, out, err = self.keys("keys", "add", "kim", check=False)
        self.assertEqual(code, 1)
        self.assertIn("exists", err)
        _, out, _ = self.keys("keys", "list", "--json")
        kim = json.loads(out)[0]
        self.assertEqual((kim["name"], kim["limits"]["daily_usd"], kim["limits"]["models"]),
                         ("kim", 2.5, ["sonnet", "haiku"]))
        _, out, _ = self.keys("usage")
        self.assertIn("total", out)


class LocalTenant(TeamCase):
    usage_config = "usage:\n  local_limits: \"rpm=2\"\n"

    def test_socket_clients_have_their_own_limits(self):
        for i in range(2):
            r = self.ksid.request({"command": "SPAWN", "version": "2.0",
                                   "parameters": {"mode": "sync", "prompt": f"s{i}"}})
            self.assertEqual(r["status"], "success", r)
            self.assertNotIn("error", r["result"])
        r = self.ksid.request({"command": "SPAWN", "version": "2.0", "parameters": {"mode": "sync", "prompt": "x"}})
        self.assertEqual(r["result"]["code"], "RATE_LIMITED", r)
        self.assertIn("'local' reached its limit of 2 requests per minute", r["result"]["error"])
        self.assertGreaterEqual(r["result"]["retry_after"], 1)
        r = self.ksid.request({"command": "SPAWN", "version": "2.0",
                               "parameters": {"mode": "async", "prompt": "x", "agent_id": "a1"}})
        self.assertEqual((r["status"], r["error"]["code"]), ("error", "RATE_LIMITED"), r)
        # The facade (no keys: loopback only) is not the local tenant.
        self.assertEqual(self.chat(None)[0], 200)
        rows = dict(self.ledger("SELECT transport, count(*) FROM turns WHERE key='local' GROUP BY transport"))
        self.assertEqual(rows, {"socket": 4})


class SubscriptionLimits(TeamCase):
    def test_a_rejection_is_a_429_until_the_reset(self):
        resets = int(time.time()) + 600
        for stream in (False, True):
            status, headers, body = self.chat(None, f"FAKE:ratelimit=rejected:{resets}", stream=stream)
            self.assertEqual(status, 429, body)
            self.assertLessEqual(abs(int(headers["retry-after"]) - 600), 3)
            err = json.loads(body)["error"]
            self.assertEqual(err["code"], "subscription_limit")
            self.assertIn("five_hour limit is reached", err["message"])
        status, _, body = self.http("GET", "/v1/usage/quota")
        quota = {q["type"]: q for q in json.loads(body)["data"]}
        self.assertEqual(quota["five_hour"]["status"], "rejected")
        self.assertEqual(quota["five_hour"]["resets_at"], resets)
        # A warning is only shown.
        status, _, body = self.chat(None, f"FAKE:ratelimit=allowed_warning:{resets}:seven_day")
        self.assertEqual(status, 200, body)
        quota = {q["type"]: q for q in json.loads(self.http("GET", "/v1/usage/quota")[2])["data"]}
        self.assertEqual((quota["seven_day"]["status"], quota["seven_day"]["utilization"]), ("allowed_warning", 0.85))
        self.assertEqual(self.ledger("SELECT count(*) FROM turns WHERE outcome='subscription_limited'"), [(2,)])


if __name__ == "__main__":
    unittest.main()
