"""Redis scale-out fixtures (issue 18): a private redis-server, a tiny RESP client, and a Cluster of one front
ksid (socket + facade) and worker ksids (`ksid --worker`) sharing one queue in Redis Streams.

Standard library only. Debian's /usr/bin/redis-server (KSID_REDIS_SERVER overrides the path) is started on a
free 127.0.0.1 port in a temporary directory, without persistence: a restart loses every key. Without it the
tests are skipped, unless KSID_REQUIRE_REAL_CLAUDE is set (CI: scripts/test-deps installs it), then they fail.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from ksid_harness import Ksid, free_port, wait_until

REDIS_SERVER = os.environ.get("KSID_REDIS_SERVER") or "/usr/bin/redis-server"
PRIORITIES = range(10)  # <prefix>:jobs:0 .. <prefix>:jobs:9
GROUP = "workers"


def require_redis():
    """Skips the test when redis-server is missing; fails it instead when the suite must be complete (CI)."""
    if os.access(REDIS_SERVER, os.X_OK):
        return
    message = f"{REDIS_SERVER} is missing: run scripts/test-deps (Debian's redis-server)"
    if os.environ.get("KSID_REQUIRE_REAL_CLAUDE", "") not in ("", "0"):
        raise AssertionError(message + " (KSID_REQUIRE_REAL_CLAUDE is set: a skip would hide a failure)")
    raise unittest.SkipTest(message)


# ---------------------------------------------------------------------------------------------------------------
# RESP (version 2) over a socket: one command per connection, enough for the tests.

class RedisError(Exception):
    """An error reply (-ERR ..., -NOGROUP ...)."""


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection mid-reply")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def _parse(r):
    line = r.line()
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode(errors="replace"))  # inside an array it stays a value
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        return r.exact(n + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_parse(r) for _ in range(n)]
    raise RedisError(f"unexpected reply line {line!r}")


def redis_command(port, *args, host="127.0.0.1", timeout=5):
    """Sends one command and returns the parsed reply: str (simple and bulk strings), int, list, None (nil).
    An error reply raises RedisError; a refused connection raises OSError."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(_encode(args))
        reply = _parse(_Reader(s))
    if isinstance(reply, RedisError):
        raise reply
    return reply


def pairs(flat):
    """HGETALL / stream entry fields ([k1, v1, k2, v2, ...]) as a dict."""
    flat = flat or []
    return dict(zip(flat[0::2], flat[1::2]))


class RedisServer:
    """redis-server on a free 127.0.0.1 port in a temporary directory, no persistence."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = None  # created by the first start()
        self.proc = None
        self.log = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def __call__(self, *args, timeout=5):
        return redis_command(self.port, *args, timeout=timeout)

    def start(self, timeout=10):
        require_redis()
        self.dir = self.dir or tempfile.mkdtemp(prefix="ksid-redis-")
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", self.dir],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                if redis_command(self.port, "PING", timeout=1) == "PONG":
                    return self
            except (OSError, RedisError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"redis-server did not answer PING on port {self.port}:\n{self.log_text()}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def restart(self):
        """Stops and starts again on the same port; every key is lost (no persistence)."""
        self.stop()
        return self.start()

    def log_text(self):
        if not self.dir:
            return ""
        try:
            with open(os.path.join(self.dir, "redis.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def cleanup(self):
        self.stop(signal.SIGKILL)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# Legacy socket helpers

def spawn(prompt, mode="sync", **params):
    return {"command": "SPAWN", "version": "2.0",
            "parameters": dict(mode=mode, type="claude", prompt=prompt, **params)}


def reply_error(reply):
    """(code, message) of a failed SPAWN in either legacy shape, (None, None) for a success:
    async SPAWN (and other commands): {"status": "error", "error": {"code", "message"}};
    sync SPAWN keeps the legacy contract: {"status": "success", "result": {"error": ..., "code": ...}}."""
    if reply.get("status") == "error":
        e = reply.get("error") or {}
        return e.get("code"), str(e.get("message", ""))
    result = reply.get("result")
    if isinstance(result, dict) and "error" in result:
        return result.get("code"), str(result.get("error"))
    return None, None


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def _proc_stat(pid):
    """(state, ppid, pgid) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


class Watcher:
    """A persistent agent connection to the front, subscribed to PROCESS_COMPLETE (async SPAWN outcomes reach
    subscribers through the front's bus, as with a local run). A thread collects the events with their arrival
    time (time.monotonic())."""

    def __init__(self, front, agent_id="redis-test-watcher"):
        self.agent_id = agent_id
        self.sock = front.connect(timeout=10)
        self.sock.sendall((json.dumps({"command": "AGENT_CONNECTION", "version": "2.0", "parameters": {
            "action": "connect", "agent_id": agent_id}}) + "\n").encode())
        self.buf = b""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the front closed the watcher's connection before the connect reply")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        reply = json.loads(line)
        if reply.get("status") != "success":
            raise AssertionError(f"AGENT_CONNECTION failed: {reply}")
        r = front.request({"command": "SUBSCRIBE", "version": "2.0", "parameters": {
            "agent_id": agent_id, "event_types": ["PROCESS_COMPLETE"]}})
        if r.get("status") != "success":
            raise AssertionError(f"SUBSCRIBE failed: {r}")
        self.cond = threading.Condition()
        self.events = []  # (arrival, event)
        self.closed = False
        self.eof = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.closed:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("type") == "PROCESS_COMPLETE":
                    with self.cond:
                        self.events.append((time.monotonic(), msg))
                        self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def for_pid(self, pid):
        with self.cond:
            return [e for _, e in self.events if e.get("process_id") == pid]

    def arrival(self, pid):
        with self.cond:
            return next((t for t, e in self.events if e.get("process_id") == pid), None)

    def wait(self, pids, timeout):
        """True once every pid has at least one PROCESS_COMPLETE."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                seen = {e.get("process_id") for _, e in self.events}
                if all(p in seen for p in pids):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return False
                self.cond.wait(left)

    def duplicates(self):
        """{process_id: count} of every id answered more than once (whoever submitted it)."""
        with self.cond:
            counts = {}
            for _, e in self.events:
                counts[e.get("process_id")] = counts.get(e.get("process_id"), 0) + 1
        return {p: n for p, n in counts.items() if n > 1}

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(2)


def event_error_text(event):
    """Everything an error PROCESS_COMPLETE says (its `error`, and `result` when that is a string)."""
    parts = [str(event.get("error", ""))]
    if isinstance(event.get("result"), str):
        parts.append(event["result"])
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# The cluster

class Cluster:
    """One front ksid (legacy socket + facade on a free port) and worker ksids (`--worker`, each in its own
    directory with its own config naming it queue.worker_name wN), one Redis, one key prefix per test. Every
    process carries one marker (KSID_TEST_MARKER), so the claude runs of any worker are found the same way."""

    def __init__(self, redis, workers=3, worker_concurrency=4, max_pending=64, front_concurrency=4,
                 visibility_timeout=2, max_deliveries=3, queue_extra=None):
        self.redis = redis
        self.n_workers = workers
        self.worker_concurrency = worker_concurrency
        self.max_pending = max_pending
        self.front_concurrency = front_concurrency
        self.visibility_timeout = visibility_timeout
        self.max_deliveries = max_deliveries
        self.queue_extra = dict(queue_extra or {})
        self.prefix = "ksidtest" + os.urandom(4).hex()
        self.marker = "ksid-test-" + os.urandom(6).hex()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.front = None
        self.workers = {}  # name -> Ksid, in start order
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # --- configuration and processes

    def config(self, worker_name=None, concurrency=None):
        q = {"broker": self.redis.url, "broker_prefix": self.prefix,
             "visibility_timeout": self.visibility_timeout, "max_deliveries": self.max_deliveries,
             "max_concurrent": concurrency or (self.worker_concurrency if worker_name else self.front_concurrency),
             "max_pending": self.max_pending}
        q.update(self.queue_extra)
        if worker_name:
            q["worker_name"] = worker_name
        text = "queue:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in q.items())
        if worker_name is None:  # a worker serves nothing: no facade section (it would want the same port)
            text += f"facade:\n  enabled: true\n  host: \"127.0.0.1\"\n  port: {self.port}\n"
        return text

    def _ksid(self, name, config, args=()):
        k = Ksid(args=args, config=config, env={"KSID_TEST_MARKER": self.marker})
        k.marker = self.marker
        k.name = name
        k.stopped_by_test = False
        k.killed_by_test = False
        return k

    def start(self):
        self.front = self._ksid("front", self.config())
        self.front.start()  # waits for HEALTH_CHECK on its socket
        if not wait_until(self._facade_listening, timeout=10):
            raise AssertionError("the front's facade does not listen on port %d:\n%s" % (self.port, self.front.stderr()))
        names = [self.add_worker(wait=False) for _ in range(self.n_workers)]
        self.wait_workers(names)
        return self

    def _facade_listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def add_worker(self, name=None, concurrency=None, wait=True):
        """Starts `ksid --worker` named `name` (w1, w2, ... by default); returns the name."""
        name = name or f"w{len(self.workers) + 1}"
        k = self._ksid(name, self.config(worker_name=name, concurrency=concurrency), args=["--worker"])
        k.start(wait=False)  # no socket: health is its alive key in Redis
        self.workers[name] = k
        if wait:
            self.wait_workers([name])
        return name

    def worker_alive(self, name):
        try:
            return self.redis("EXISTS", self.key("worker", name, "alive")) == 1
        except (OSError, RedisError):
            return False

    def wait_workers(self, names, timeout=15):
        """Until each named worker is in <prefix>:workers and its <prefix>:worker:<name>:alive key exists."""
        deadline = time.monotonic() + timeout
        members = []
        while time.monotonic() < deadline:
            for n in names:
                k = self.workers[n]
                if k.proc.poll() is not None:
                    raise AssertionError(f"worker {n} exited with {k.proc.returncode} before registering:\n"
                                         + _tail(k.stderr()))
            try:
                members = self.redis("SMEMBERS", self.key("workers")) or []
                if all(n in members for n in names) and all(self.worker_alive(n) for n in names):
                    return
            except (OSError, RedisError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"workers {names} did not register within {timeout} s (SMEMBERS {self.key('workers')}"
                             f" = {members}, alive: {[n for n in names if self.worker_alive(n)]})\n"
                             + self.diagnostics())

    def all(self):
        return ([self.front] if self.front else []) + list(self.workers.values())

    def stop_worker(self, name, sig=signal.SIGTERM, timeout=15):
        """Stops a worker as its service manager would; returns its exit status."""
        k = self.workers[name]
        k.stopped_by_test = True
        return k.stop(sig, timeout=timeout)

    def kill_worker(self, name):
        """SIGKILLs a worker, like a machine that died. Its claude runs (in their own process groups) would be
        orphaned: they are killed with it, as they would be on that machine; nothing is asserted about them."""
        k = self.workers[name]
        groups = {st[2] for pid in self.marked() if (st := _proc_stat(pid)) and st[1] == k.proc.pid}
        k.killed_by_test = True
        k.proc.kill()
        k.proc.wait()
        k.stderr_file.close()
        for g in groups:
            try:
                os.killpg(g, signal.SIGKILL)
            except OSError:
                pass

    def marked(self, claude_only=False):
        """Live processes with the cluster's marker, other than the daemons themselves."""
        daemons = {k.proc.pid for k in self.all() if k.proc}
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in daemons:
                continue
            pid = int(entry)
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if self.marker.encode() not in f.read():
                        continue
                st = _proc_stat(pid)
                if st is None or st[0] == "Z":
                    continue
                if claude_only:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if os.path.basename(f.read().split(b"\0")[0]) != b"claude":
                            continue
                found.append(pid)
            except OSError:
                pass
        return found

    def claude_runs(self):
        return self.marked(claude_only=True)

    def claude_children(self, name):
        """The claude runs worker `name` has going right now."""
        parent = self.workers[name].proc.pid
        return [pid for pid in self.claude_runs() if (st := _proc_stat(pid)) and st[1] == parent]

    def worker_dir(self, name):
        return os.path.realpath(self.workers[name].dir)

    def worker_of_dir(self, cwd):
        """The worker whose directory a claude run reported as its cwd, None when it is no worker's."""
        cwd = os.path.realpath(cwd or "/nonexistent")
        return next((n for n in self.workers if self.worker_dir(n) == cwd), None)

    # --- Redis state

    def key(self, *parts):
        return ":".join((self.prefix,) + tuple(str(p) for p in parts))

    def hgetall(self, *parts):
        return pairs(self.redis("HGETALL", self.key(*parts)))

    def job_hash(self, process_id):
        """<prefix>:job:<front>-<process_id>: the broker's job id names the front too."""
        keys = [k for k in (self.redis("KEYS", self.key("job", "*-" + process_id)) or [])
                if not k.endswith((":events", ":cancel"))]
        return pairs(self.redis("HGETALL", keys[0])) if keys else {}

    def completed(self, name):
        return int(self.redis("HGET", self.key("worker", name), "completed") or 0)

    def completed_all(self):
        return {n: self.completed(n) for n in self.workers}

    def queue_state(self):
        """(waiting, pending) over the 10 priority streams and every worker's own stream: waiting = entries no
        worker holds (XLEN - XPENDING, as the submit script counts), pending = claimed and not yet acked."""
        keys = [self.key("jobs", n) for n in PRIORITIES]
        keys += [self.key("worker", n, "jobs") for n in (self.redis("SMEMBERS", self.key("workers")) or [])]
        waiting = pending = 0
        for key in keys:
            length = self.redis("XLEN", key) or 0
            if not length:
                continue
            try:
                held = int(self.redis("XPENDING", key, GROUP)[0] or 0)
            except RedisError:  # NOGROUP: read without a group
                held = 0
            waiting += length - held
            pending += held
        return waiting, pending

    def ghost_claim(self, timeout=3):
        """Claims the next waiting job as consumer "ghost" (XREADGROUP ... >), like a worker that died right after
        claiming it; returns (stream, entry id, fields) or None. Streams without the group are skipped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in PRIORITIES:
                key = self.key("jobs", n)
                if not self.redis("XLEN", key):
                    continue
                try:
                    reply = self.redis("XREADGROUP", "GROUP", GROUP, "ghost", "COUNT", 1, "STREAMS", key, ">")
                except RedisError:  # NOGROUP: no worker created the group on this stream (yet)
                    continue
                for stream, entries in reply or []:
                    for entry_id, fields in entries:
                        return stream, entry_id, pairs(fields)
            time.sleep(0.05)
        return None

    def diagnostics(self):
        """What the daemons and Redis say, for failure messages."""
        out = []
        try:
            names = self.redis("SMEMBERS", self.key("workers"), timeout=2) or []
            out.append(f"redis {self.redis.url} prefix {self.prefix}: workers {sorted(names)}")
            for n in sorted(set(names) | set(self.workers)):
                out.append(f"  worker {n}: {self.hgetall('worker', n)} alive={self.worker_alive(n)}")
            streams = {k: self.redis("XLEN", k) for k in [self.key("jobs", p) for p in PRIORITIES] +
                       [self.key("dead")] + [self.key("worker", n, "jobs") for n in names]}
            out.append(f"  streams: { {k: v for k, v in streams.items() if v} }")
            try:
                out.append(f"  queue (waiting, pending): {self.queue_state()}")
            except (OSError, RedisError) as e:
                out.append(f"  queue: {e}")
        except (OSError, RedisError) as e:
            out.append(f"redis {self.redis.url}: unreachable ({e})")
        for k in self.all():
            state = "running" if k.proc and k.proc.poll() is None else f"exited {k.proc.returncode if k.proc else None}"
            out.append(f"--- {k.name} ({state}) stderr:\n{_tail(k.stderr())}")
        if self.front:
            try:
                with open(self.front.path("logs", "daemon.log"), errors="replace") as f:
                    out.append("--- front logs/daemon.log:\n" + _tail(f.read()))
            except OSError:
                pass
        return "\n".join(out)

    # --- clients

    def request(self, obj, timeout=30):
        return self.front.request(obj, timeout=timeout)

    def http(self, method, path, body=None, headers=None, timeout=30):
        """(status, headers with lower-case names, body bytes) of one request; a dict body is sent as JSON."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=h)
        try:
            with self._opener.open(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def chat(self, content=None, messages=None, stream=False, session=None, timeout=60):
        """POST /v1/chat/completions; returns a dict: status, headers, body, and for a 200 the answer's
        content and id (the session) — assembled from the chunks for a stream, with done = saw [DONE]."""
        body = {"model": "sonnet", "messages": messages or [{"role": "user", "content": content}],
                "stream": stream}
        if session:
            body["metadata"] = {"session_id": session}
        status, headers, raw = self.http("POST", "/v1/chat/completions", body, timeout=timeout)
        out = {"status": status, "headers": headers, "body": raw, "content": None, "id": None, "done": False}
        if status != 200:
            return out
        if not stream:
            doc = json.loads(raw)
            out["content"] = doc["choices"][0]["message"]["content"]
            out["id"] = doc.get("id")
            return out
        text = raw.decode()
        content, ids = "", []
        for line in text.split("\n"):
            if not line.startswith("data: "):
                continue
            data = line[len("data: "):]
            if data == "[DONE]":
                out["done"] = True
                continue
            chunk = json.loads(data)
            ids.append(chunk.get("id"))
            for choice in chunk.get("choices") or []:
                content += (choice.get("delta") or {}).get("content") or ""
        out["content"], out["id"] = content, (ids[0] if ids else None)
        out["done"] = out["done"] and text.rstrip("\n").endswith("data: [DONE]")
        return out

    # --- shutdown

    def shutdown(self):
        """Stops the workers, then the front (SIGTERM) and returns what went wrong: exit status not 0, zombie
        children, sanitizer reports, marked processes left running."""
        problems = []
        if not self.redis.running():
            try:
                self.redis.start()  # workers hand their jobs back on the way out
            except AssertionError as e:
                problems.append(f"redis could not be restarted for the shutdown: {e}")
        for k in list(self.workers.values()) + ([self.front] if self.front else []):
            if k.proc is None or k.killed_by_test:
                continue
            if k.proc.poll() is None:
                wait_until(lambda: not k.zombie_children(), timeout=3)
                if k.zombie_children():
                    problems.append(f"{k.name}: zombie children {k.zombie_children()}")
                try:
                    code = k.stop(timeout=15)
                except AssertionError as e:
                    problems.append(f"{k.name}: {e}\n{_tail(k.stderr())}")
                    continue
            else:
                code = k.proc.returncode
                if not k.stopped_by_test:
                    problems.append(f"{k.name} exited on its own with {code}")
            if code != 0:
                problems.append(f"{k.name} exit status {code}; stderr:\n{_tail(k.stderr())}")
            err = k.stderr()
            for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
                if m in err:
                    problems.append(f"sanitizer report in {k.name}'s stderr:\n{_tail(err, 80)}")
                    break
        wait_until(lambda: not self.marked(), timeout=3)
        left = self.marked()
        if left:
            problems.append(f"processes left running after the daemons stopped: {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        return problems

    def cleanup(self):
        for k in self.all():
            k.cleanup()


class ClusterCase(unittest.TestCase):
    """A Redis, one front and `workers` workers per test; tearDown stops them all and fails the test on a non-zero
    exit status, zombies, sanitizer reports or leftover processes."""

    workers = 3
    worker_concurrency = 4
    max_pending = 64
    visibility_timeout = 2
    max_deliveries = 3
    queue_extra = None

    def setUp(self):
        require_redis()
        self.redis = RedisServer().start()
        self.cluster = Cluster(self.redis, workers=self.workers, worker_concurrency=self.worker_concurrency,
                               max_pending=self.max_pending, visibility_timeout=self.visibility_timeout,
                               max_deliveries=self.max_deliveries, queue_extra=self.queue_extra)
        self.watchers = []
        try:
            self.cluster.start()
        except BaseException:
            self.cluster.shutdown()
            self.cluster.cleanup()
            self.redis.cleanup()
            raise

    def tearDown(self):
        try:
            for w in self.watchers:
                w.close()
            problems = self.cluster.shutdown()
            self.assertEqual(problems, [], "\n".join(problems))
        finally:
            self.cluster.cleanup()
            self.redis.cleanup()

    # --- helpers with failure messages that say what the cluster was doing

    def expect(self, condition, message):
        """Fails with `message` (a string, or a callable giving it: computed only on failure) and what the
        daemons and Redis say."""
        if not condition:
            text = message() if callable(message) else message
            self.fail(f"{text}\n{self.cluster.diagnostics()}")

    def expect_within(self, predicate, timeout, message, interval=0.05):
        ok = wait_until(predicate, timeout=timeout, interval=interval)
        self.expect(ok, lambda: f"{message() if callable(message) else message} (waited {timeout} s)")

    def watch(self, agent_id="redis-test-watcher"):
        w = Watcher(self.cluster.front, agent_id)
        self.watchers.append(w)
        return w

    def submit(self, prompt, **params):
        """An async SPAWN that must be accepted; returns its process_id. With an agent_id: without one the
        daemon tells nobody that it finished (the legacy contract), so there would be no PROCESS_COMPLETE."""
        params.setdefault("agent_id", "redis-test-agent")
        r = self.cluster.request(spawn(prompt, mode="async", **params))
        self.expect(r.get("status") == "success" and r.get("result", {}).get("process_id"),
                    f"async SPAWN {prompt!r} was not accepted: {r}")
        self.assertEqual(r["result"]["status"], "started", r)
        return r["result"]["process_id"]

    def sync(self, prompt, timeout=60, **params):
        """A sync SPAWN that must succeed; returns its result object."""
        r = self.cluster.request(spawn(prompt, **params), timeout=timeout)
        code, message = reply_error(r)
        self.expect(r.get("status") == "success" and code is None and message is None,
                    f"sync SPAWN {prompt!r} failed: {r}")
        return r["result"]

    def assert_answered_once(self, watcher, pids, timeout, settle=1.0):
        """Every pid gets a PROCESS_COMPLETE within `timeout`, and (after `settle` more seconds) none gets two."""
        ok = watcher.wait(pids, timeout)
        missing = [p for p in pids if not watcher.for_pid(p)]
        self.expect(ok, f"no PROCESS_COMPLETE within {timeout} s for {missing}")
        time.sleep(settle)
        self.expect(watcher.duplicates() == {}, f"answered more than once: {watcher.duplicates()}")
        return {p: watcher.for_pid(p)[0] for p in pids}
