"""Scale-out on Redis (issue 18): one front ksid and worker ksids (`ksid --worker`) sharing a queue in Redis
Streams, with the fake claude. Every job answered exactly once (sync and async SPAWN, facade plain and
streamed); a worker SIGKILLed mid-run; a job claimed by a worker that died before starting it; the dead-letter
stream; sessions routed to the worker that holds them, and what happens when it is gone; Redis restarted under
load; a client gone mid-run; a worker shut down with jobs waiting; a full queue.

FAKE:sleep=N in a prompt makes the fake claude sleep N milliseconds before it answers."""
import json
import os
import socket
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_fixture import ClusterCase, event_error_text, pairs, reply_error, spawn  # noqa: E402


def log_lines(ksid, session):
    """The JSON lines of claude_logs/<session>.jsonl in ksid's directory, [] when there is no such file."""
    try:
        with open(ksid.path("claude_logs", session + ".jsonl")) as f:
            return [json.loads(line) for line in f.read().splitlines()]
    except OSError:
        return []


def run_all(tasks, timeout):
    """Runs {key: callable} in one thread each, all at once; returns ({key: result}, [errors])."""
    results, errors = {}, []
    lock = threading.Lock()

    def run(key, fn):
        try:
            value = fn()
            with lock:
                results[key] = value
        except Exception as e:  # noqa: BLE001 - reported by the test
            with lock:
                errors.append(f"{key}: {e!r}")

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in tasks.items()]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    errors += [f"{k}: still running after {timeout} s" for k in tasks if k not in results
               and not any(e.startswith(f"{k}:") for e in errors)]
    return results, errors


class EveryJobOnce(ClusterCase):
    workers = 3

    def test_every_job_is_answered_exactly_once_and_logged_on_the_front(self):
        c = self.cluster
        watcher = self.watch()
        tasks = {}
        for i in range(12):
            tasks[("sync", i)] = lambda i=i: c.request(spawn(f"FAKE:sleep=200 sync-{i}"), timeout=60)
        for i in range(12):
            tasks[("async", i)] = lambda i=i: c.request(spawn(f"FAKE:sleep=200 async-{i}", mode="async",
                                                              agent_id=f"agent-{i}"))
        for i in range(8):
            tasks[("plain", i)] = lambda i=i: c.chat(f"FAKE:sleep=200 plain-{i}")
        for i in range(8):
            tasks[("stream", i)] = lambda i=i: c.chat(f"FAKE:sleep=200 stream-{i}", stream=True)
        results, errors = run_all(tasks, timeout=90)
        self.expect(errors == [], f"clients failed: {errors}")

        # sync SPAWN: claude's output, run in a worker's directory (the front runs no turns), logged on the front
        sync_sessions = []
        for i in range(12):
            r = results[("sync", i)]
            prompt = f"FAKE:sleep=200 sync-{i}"
            self.assertEqual(reply_error(r), (None, None), r)
            out = r["result"]
            self.assertEqual(out["result"], "ECHO: " + prompt, out)
            worker = c.worker_of_dir(out.get("cwd"))
            self.assertIsNotNone(worker, f"sync-{i} ran in {out.get('cwd')}, no worker's directory "
                                         f"(front: {c.front.dir})")
            s = out["session_id"]
            sync_sessions.append(s)
            lines = log_lines(c.front, s)
            self.assertEqual([l["type"] for l in lines], ["human", "claude"], f"front claude_logs/{s}.jsonl")
            self.assertEqual(lines[0]["content"], prompt)
            self.assertEqual(lines[1]["result"], "ECHO: " + prompt)
        # the sync-only convenience files, as a local run writes them
        with open(c.front.path("sockets", "last_session_id")) as f:
            self.assertIn(f.read(), sync_sessions)
        self.assertIn(os.readlink(c.front.path("claude_logs", "latest.jsonl"))[:-len(".jsonl")], sync_sessions)

        # async SPAWN: accepted, then exactly one PROCESS_COMPLETE each, logged with its process_id
        pids = {}
        for i in range(12):
            r = results[("async", i)]
            self.assertEqual(r.get("status"), "success", r)
            self.assertEqual(r["result"]["status"], "started", r)
            pids[r["result"]["process_id"]] = i
        self.assertEqual(len(pids), 12, "process ids are not unique")
        events = self.assert_answered_once(watcher, list(pids), timeout=30)
        for pid, i in pids.items():
            e = events[pid]
            self.assertEqual((e["status"], e.get("agent_id")), ("success", f"agent-{i}"), e)
            self.assertEqual(e["result"], f"ECHO: FAKE:sleep=200 async-{i}")
            lines = log_lines(c.front, e["session_id"])
            self.assertEqual([l["type"] for l in lines], ["human", "claude"], f"async-{i}: {e}")
            self.assertEqual(lines[0]["process_id"], pid)
            self.assertEqual(lines[0]["content"], f"FAKE:sleep=200 async-{i}")

        # the facade, plain and streamed: the same answers, logged like async SPAWNs
        for kind in ("plain", "stream"):
            for i in range(8):
                r = results[(kind, i)]
                prompt = f"FAKE:sleep=200 {kind}-{i}"
                self.assertEqual(r["status"], 200, f"{kind}-{i}: {r['status']} {r['body'][:500]!r}")
                self.assertEqual(r["content"], "ECHO: " + prompt, f"{kind}-{i}")
                if kind == "stream":
                    self.assertTrue(r["done"], f"{kind}-{i}: the stream did not end with data: [DONE]")
                lines = log_lines(c.front, r["id"])
                self.assertEqual([l["type"] for l in lines], ["human", "claude"], f"{kind}-{i}: claude_logs/{r['id']}")
                self.assertEqual(lines[0]["content"], prompt)

        # every job ran once, on more than one worker, and nothing is left in the streams
        self.expect_within(lambda: sum(c.completed_all().values()) == 40, 5,
                           lambda: f"the workers' completed counters should add up to the 40 jobs: {c.completed_all()}")
        busy = [n for n, done in c.completed_all().items() if done > 0]
        self.expect(len(busy) > 1, f"only {busy} ran jobs: {c.completed_all()}")
        self.expect_within(lambda: c.queue_state() == (0, 0), 3, "jobs left in the streams")

        # the front's /metrics: the broker and each worker as they report themselves in Redis
        def metrics():
            with urllib.request.urlopen(f"http://127.0.0.1:{c.port}/metrics", timeout=10) as r:
                return r.read().decode()

        def counted():
            text = metrics()
            done = sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("ksid_worker_jobs_total{") and 'event="completed"' in line)
            return done == 40 and "ksid_broker_up 1" in text and "ksid_broker_queue_depth 0" in text
        self.expect_within(counted, 5, lambda: "the front's /metrics should count the 40 jobs:\n" + metrics())
        text = metrics()
        for name in c.workers:
            self.assertIn(f'ksid_worker_up{{worker="{name}"}} 1', text)
            self.assertIn(f'ksid_worker_running{{worker="{name}"}} 0', text)


class WorkerKilled(ClusterCase):
    workers = 2
    worker_concurrency = 1

    def test_a_worker_killed_mid_run_answers_its_run_once_and_the_rest_run_elsewhere(self):
        c = self.cluster
        watcher = self.watch()
        pids = [self.submit(f"FAKE:sleep=2000 killed-{i}") for i in range(4)]
        # one slot per worker: each runs one, the other two wait in the stream
        self.expect_within(lambda: c.claude_children("w1") and c.claude_children("w2"), 10,
                           "each worker should be running one of the jobs")
        on_w1 = [p for p in pids if c.job_hash(p).get("worker") == "w1"]
        c.kill_worker("w1")
        killed_at = time.monotonic()
        # the run on w1 is answered once, with an error; w2 runs the other three one after the other
        vt = c.visibility_timeout
        events = self.assert_answered_once(watcher, pids, timeout=vt * 3 + 3 * 2 + 5, settle=2)
        failed = [p for p in pids if events[p]["status"] != "success"]
        self.expect(len(failed) == 1, f"exactly the job running on w1 should fail: {events}")
        lost = failed[0]
        self.assertIn("worker", event_error_text(events[lost]).lower(), events[lost])
        if on_w1:  # <prefix>:job:<id> said which job w1 held
            self.assertEqual(failed, on_w1)
        self.assertLessEqual(watcher.arrival(lost) - killed_at, vt * 3 + 1,
                             "the lost run should be answered within a few visibility timeouts")
        for p in pids:
            if p != lost:
                self.assertEqual(events[p]["result"], f"ECHO: FAKE:sleep=2000 killed-{pids.index(p)}")
        self.expect_within(lambda: c.completed("w2") == 3, 3, "w2 should have completed the other three jobs")
        self.expect_within(lambda: c.queue_state() == (0, 0), 3, "jobs left waiting or claimed")
        self.assertEqual(c.front.proc.poll(), None, "the front should be running")


class ClaimedNeverStarted(ClusterCase):
    """A job that a worker claimed and died before starting (emulated: the test claims it as consumer "ghost"
    and records the claim in <prefix>:job:<id> as a worker does) is reclaimed after the visibility timeout."""
    workers = 1
    worker_concurrency = 1

    def claim_as_ghost(self, deliveries=1):
        c = self.cluster
        busy = self.submit("FAKE:sleep=1500 busy")  # w1's only slot is taken: the next job waits
        self.expect_within(lambda: c.claude_children("w1"), 10, "w1 should be running the first job")
        job = self.submit("claimed by a ghost")
        claimed = c.ghost_claim()
        self.expect(claimed is not None, "the test could not claim the waiting job")
        stream, entry, fields = claimed
        self.assertTrue(fields.get("job", "").endswith("-" + job),
                        f"the stream entry's job field should be <front>-<process_id>: {fields}")
        for _ in range(deliveries - 1):  # delivered again, to the same dead consumer
            c.redis("XCLAIM", stream, "workers", "ghost", 0, entry)
        c.redis("HSET", c.key("job", fields["job"]), "state", "claimed", "worker", "ghost", "deliveries", deliveries)
        return busy, job

    def test_a_job_claimed_by_a_worker_that_died_before_starting_it_runs_elsewhere(self):
        c = self.cluster
        watcher = self.watch()
        busy, job = self.claim_as_ghost()
        events = self.assert_answered_once(watcher, [busy, job], timeout=1.5 + c.visibility_timeout * 3 + 5)
        self.assertEqual(events[busy]["status"], "success", events[busy])
        self.assertEqual((events[job]["status"], events[job].get("result")), ("success", "ECHO: claimed by a ghost"),
                         events[job])
        self.expect_within(lambda: c.completed("w1") == 2, 3, "w1 should have run both jobs")
        self.expect_within(lambda: c.queue_state() == (0, 0), 3, "jobs left waiting or claimed")

    def test_a_job_delivered_more_than_max_deliveries_goes_to_the_dead_letter_stream(self):
        c = self.cluster
        watcher = self.watch()
        busy, job = self.claim_as_ghost(deliveries=c.max_deliveries)
        events = self.assert_answered_once(watcher, [busy, job], timeout=1.5 + c.visibility_timeout * 3 + 5)
        self.assertEqual(events[busy]["status"], "success", events[busy])
        self.assertNotEqual(events[job]["status"], "success", events[job])
        self.assertIn("worker", event_error_text(events[job]).lower(), events[job])
        dead = c.redis("XRANGE", c.key("dead"), "-", "+") or []
        self.expect(len(dead) == 1, f"{c.key('dead')} should hold the job: {dead}")
        self.assertTrue(pairs(dead[0][1]).get("job", "").endswith("-" + job), dead)
        self.assertIn("request", pairs(dead[0][1]))
        self.expect_within(lambda: c.completed("w1") == 1, 3, "w1 should have completed the first job")
        time.sleep(0.5)
        self.assertEqual(c.completed("w1"), 1, "the dead job must not have run")
        self.expect_within(lambda: c.queue_state() == (0, 0), 3, "jobs left waiting or claimed")


class SessionRouting(ClusterCase):
    workers = 3

    def test_a_resumed_session_runs_on_its_worker_and_when_that_worker_is_gone(self):
        c = self.cluster
        first = self.sync("first turn")
        sid = first["session_id"]
        self.expect_within(lambda: c.redis("GET", c.key("session", sid)), 5, f"{c.key('session', sid)} never set")
        owner = c.redis("GET", c.key("session", sid))
        self.assertIn(owner, c.workers, f"the session is held by {owner!r}, no worker of this cluster")
        self.assertEqual(c.worker_of_dir(first.get("cwd")), owner, "the first turn ran elsewhere than recorded")
        self.expect_within(lambda: sum(c.completed_all().values()) == 1, 3, "the first turn was not counted")
        before = c.completed_all()

        for i in range(4):
            out = self.sync(f"turn {i + 2}", session_id=sid)
            self.assertEqual(out["session_id"], sid)
            self.assertEqual(c.worker_of_dir(out.get("cwd")), owner, f"turn {i + 2} ran on another worker")
        expected = dict(before, **{owner: before[owner] + 4})
        self.expect_within(lambda: c.completed_all() == expected, 3,
                           lambda: f"all four resumed turns should run on {owner}: {before} -> {c.completed_all()}")
        self.assertEqual(len(log_lines(c.front, sid)), 10, "five exchanges in the front's session log")

        # the worker that holds the session goes away
        self.assertEqual(c.stop_worker(owner), 0, c.workers[owner].stderr())
        self.expect_within(lambda: not c.worker_alive(owner), c.visibility_timeout + 3,
                           f"{c.key('worker', owner, 'alive')} outlived its worker")
        start = time.monotonic()
        r = c.request(spawn("resume on a gone worker", session_id=sid), timeout=15)
        code, message = reply_error(r)
        self.assertLess(time.monotonic() - start, 5, "the refusal should be prompt")
        self.assertEqual(code, "SESSION_UNAVAILABLE", r)
        self.assertIn(sid, message)
        self.assertIn(owner, message)
        r = c.request(spawn("resume on a gone worker", mode="async", session_id=sid), timeout=15)
        self.assertEqual(reply_error(r)[0], "SESSION_UNAVAILABLE", r)

        # a facade turn replays the whole conversation in a fresh session elsewhere, and says so
        r = c.chat(messages=[{"role": "user", "content": "first turn"},
                             {"role": "assistant", "content": "ECHO: first turn"},
                             {"role": "user", "content": "after the worker left"}], session=sid)
        self.assertEqual(r["status"], 200, r["body"][:500])
        self.assertEqual(r["headers"].get("x-ksid-session-replayed"), sid, r["headers"])
        self.assertNotEqual(r["id"], sid, "a replay runs in a fresh session")
        self.assertTrue(r["content"].startswith("ECHO: "), r["content"])
        self.assertIn("first turn", r["content"], "the replay should carry the earlier turns")
        self.assertIn("after the worker left", r["content"])
        self.expect_within(lambda: c.redis("GET", c.key("session", r["id"])) in
                           [n for n in c.workers if n != owner], 5, "the fresh session is not held by a live worker")


class RedisRestart(ClusterCase):
    workers = 2

    def test_redis_restarted_mid_load(self):
        c = self.cluster
        watcher = self.watch()
        inflight = [self.submit(f"FAKE:sleep=1500 inflight-{i}") for i in range(4)]
        self.expect_within(lambda: len(c.claude_runs()) >= 2, 10, "the jobs never started")
        pids_before = {k.name: k.proc.pid for k in c.all()}

        self.redis.stop()
        address = f"127.0.0.1:{self.redis.port}"
        start = time.monotonic()
        r = c.request(spawn("while redis is down", mode="async"), timeout=15)
        self.assertLess(time.monotonic() - start, 5, "an async SPAWN should be refused promptly")
        code, message = reply_error(r)
        self.assertEqual(code, "BROKER_UNAVAILABLE", r)
        self.assertIn(address, message, "the message should name the broker")
        start = time.monotonic()
        r = c.request(spawn("while redis is down"), timeout=15)
        self.assertLess(time.monotonic() - start, 5, "a sync SPAWN should be refused promptly")
        self.assertEqual(reply_error(r)[0], "BROKER_UNAVAILABLE", r)
        start = time.monotonic()
        status = c.chat("while redis is down", timeout=15)["status"]
        self.assertLess(time.monotonic() - start, 5, "a facade request should be refused promptly")
        self.assertEqual(status, 503)
        self.assertEqual(c.request({"command": "HEALTH_CHECK", "version": "2.0"})["status"], "success")

        self.redis.start()  # the same port, empty
        deadline = time.monotonic() + 10
        last = None
        while True:
            left = deadline - time.monotonic()
            self.expect(left > 0, f"no SPAWN succeeded within 10 s of the restart; last reply: {last}")
            try:
                last = c.request(spawn("after the restart"), timeout=left + 1)
            except OSError as e:
                last = repr(e)
                time.sleep(0.2)
                continue
            code, message = reply_error(last)
            if (code, message) == (None, None):
                self.assertEqual(last["result"]["result"], "ECHO: after the restart", last)
                break
            self.expect(code == "BROKER_UNAVAILABLE", f"unexpected reply after the restart: {last}")
            time.sleep(0.2)
        self.expect(c.chat("facade after the restart")["status"] == 200, "the facade did not recover")
        after = self.submit("async after the restart")

        # the jobs in flight across the restart: each answered once (their result, or broker_unavailable)
        events = self.assert_answered_once(watcher, inflight + [after], timeout=20, settle=2)
        self.assertEqual(events[after]["status"], "success", events[after])
        self.assertEqual({k.name: k.proc.pid for k in c.all()}, pids_before, "a daemon was restarted")
        for k in c.all():
            self.assertIsNone(k.proc.poll(), f"{k.name} exited: {k.stderr()[-2000:]}")


class ClientGone(ClusterCase):
    workers = 1

    def test_a_client_gone_mid_run_stops_the_run_on_the_worker(self):
        # A facade client that leaves stops its run on the worker, as with the local queue. (A legacy sync
        # SPAWN runs to its end whoever listens, with either queue: the legacy daemon's contract.)
        c = self.cluster
        for stream in (False, True):
            h = socket.create_connection(("127.0.0.1", c.port), timeout=10)
            body = json.dumps({"model": "sonnet", "stream": stream,
                               "messages": [{"role": "user", "content": "FAKE:sleep=30000 left"}]}).encode()
            h.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            self.expect_within(lambda: c.claude_children("w1"), 10, f"the facade run (stream={stream}) never started")
            h.close()
            self.expect_within(lambda: not c.claude_runs(), 3, f"the facade run (stream={stream}) outlived its client")
        self.assertEqual(self.sync("still working")["result"], "ECHO: still working")


class WorkerShutdown(ClusterCase):
    workers = 1
    worker_concurrency = 1

    def test_a_worker_shut_down_answers_its_run_and_leaves_the_waiting_jobs_to_another(self):
        c = self.cluster
        watcher = self.watch()
        running = self.submit("FAKE:sleep=2000 running")
        self.expect_within(lambda: c.claude_children("w1"), 10, "w1 should be running the first job")
        queued = [self.submit(f"queued-{i}") for i in range(3)]
        time.sleep(0.5)
        # waiting 3, and the running one claimed (pending) until it is answered
        self.expect(c.queue_state() == (3, 1), f"three jobs should wait behind the running one: {c.queue_state()}")

        self.assertEqual(c.stop_worker("w1"), 0, c.workers["w1"].stderr())
        # its run: answered once, shutting down or completed
        self.expect(watcher.wait([running], 10), "the run of the stopped worker was not answered")
        e = watcher.for_pid(running)[0]
        if e["status"] != "success":
            text = event_error_text(e).lower()
            self.assertTrue("shutting down" in text or "worker" in text, e)
        for q in queued:
            self.assertEqual(watcher.for_pid(q), [], "a waiting job was answered with no worker left")
        self.expect(c.queue_state() == (3, 0), f"the waiting jobs should still be waiting: {c.queue_state()}")

        c.add_worker("w2")
        events = self.assert_answered_once(watcher, [running] + queued, timeout=15, settle=1.5)
        for i, q in enumerate(queued):
            self.assertEqual((events[q]["status"], events[q].get("result")), ("success", f"ECHO: queued-{i}"))
        self.expect_within(lambda: c.completed("w2") == 3, 3, "w2 should have run the three waiting jobs")
        self.expect_within(lambda: c.queue_state() == (0, 0), 3, "jobs left waiting or claimed")


class QueueFull(ClusterCase):
    workers = 0
    max_pending = 3

    def test_a_full_queue_is_refused_then_drains_when_a_worker_starts(self):
        c = self.cluster
        watcher = self.watch()
        held = [self.submit(f"held-{i}") for i in range(3)]
        r = c.request(spawn("one too many", mode="async"))
        self.assertEqual(reply_error(r)[0], "QUEUE_FULL", r)
        r = c.request(spawn("one too many"))
        self.assertEqual(r.get("status"), "success", r)  # sync SPAWN: the legacy contract, code in result
        self.assertEqual(reply_error(r)[0], "QUEUE_FULL", r)
        status = c.chat("one too many")["status"]
        self.assertEqual(status, 429)
        self.assertEqual(c.queue_state(), (3, 0))

        c.add_worker("w1")
        events = self.assert_answered_once(watcher, held, timeout=10)
        for i, p in enumerate(held):
            self.assertEqual((events[p]["status"], events[p].get("result")), ("success", f"ECHO: held-{i}"))
        self.expect_within(lambda: c.queue_state() == (0, 0), 3, "jobs left waiting")
        self.submit("room again")


if __name__ == "__main__":
    unittest.main()
