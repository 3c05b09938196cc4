"""Scale-out benchmark (scripts/bench, issue 18): jobs per second through Redis with 1, 2 and 3 workers against
the local in-process queue, measured in the same run, and the latency Redis adds per job.

Every setup runs sync SPAWNs of the fake claude with a prompt that it answers at once, so the figures are the
queue's and the daemons' cost, not the model's:
  local       one ksid, queue.max_concurrent 4 (the baseline);
  redis N     one front ksid + N worker ksids (`ksid --worker`, queue.max_concurrent 4 each) on a private
              redis-server (no persistence).
For each: --clients concurrent socket clients for --seconds (jobs/s, ratio to local), then one client for
--seconds (median latency; "added" = that median minus the local one). The client is ksid_bench spawn-load when
--load-tool names it (scripts/bench does), else Python threads. Everything shares this machine's cores with the
client: where the scaling stops says as much about the machine as about ksid."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from redis_fixture import RedisError, RedisServer, redis_command  # noqa: E402

PROMPT = "hello from the scale-out benchmark"
SOCKET = os.path.join("sockets", "claude_daemon.sock")


def request(sock, obj, timeout=60):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(sock)
        s.sendall((json.dumps(obj) + "\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data)


SPAWN = (json.dumps({"command": "SPAWN", "version": "2.0",
                     "parameters": {"mode": "sync", "type": "claude", "prompt": PROMPT}}) + "\n").encode()


def spawn_once(sock):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(60)
        s.connect(sock)
        s.sendall(SPAWN)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    reply = json.loads(data)
    result = reply.get("result")
    return reply.get("status") == "success" and isinstance(result, dict) and "error" not in result


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def python_load(sock, seconds, clients):
    """(jobs/s, median latency in s, failures) of `clients` threads doing sync SPAWNs for `seconds`."""
    stop = threading.Event()
    latencies, failures = [], [0]
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            t = time.perf_counter()
            try:
                ok = spawn_once(sock)
            except (OSError, ValueError):
                ok = False
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    failures[0] += 1
            if not ok:
                time.sleep(0.01)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - start), median(latencies), failures[0]


def tool_load(tool, sock, seconds, clients):
    out = subprocess.run([tool, "spawn-load", sock, str(seconds), str(clients)], capture_output=True, text=True)
    fields = dict(part.split("=", 1) for part in out.stdout.split() if "=" in part)
    if "rps" not in fields:
        raise SystemExit(f"{tool} spawn-load failed: {out.stdout} {out.stderr}")
    failures = int(fields.get("failures", 0))
    return float(fields["rps"]) - failures / seconds, float(fields["p50_us"]) / 1e6, failures


class Setup:
    """The daemons of one setup in temporary directories; stop() ends them all."""

    def __init__(self, args, work, name, redis=None, workers=0):
        self.args, self.name, self.procs = args, name, []
        self.dir = os.path.join(work, name.replace(" ", "-"))
        os.makedirs(self.dir)
        self.env = dict(os.environ, PATH=args.fake_claude_dir + os.pathsep + os.environ.get("PATH", ""))
        for k in [k for k in self.env if k.startswith("KSID_") or k == "DRAMATIQ_BROKER"]:
            del self.env[k]
        self.prefix = "ksidbench" + os.urandom(4).hex()
        self.redis = redis
        front = self.start("front", self.config())
        self.sock = os.path.join(front, SOCKET)
        deadline = time.monotonic() + 15
        while True:
            try:
                if request(self.sock, {"command": "HEALTH_CHECK", "version": "2.0"}, 1)["status"] == "success":
                    break
            except (OSError, ValueError):
                pass
            self.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: the front did not become healthy:\n{self.stderr()}")
            time.sleep(0.05)
        names = [f"w{i + 1}" for i in range(workers)]
        for n in names:
            self.start(n, self.config(n), ["--worker"])
        deadline = time.monotonic() + 15
        while names:
            self.check_alive()
            try:
                if all(redis_command(redis.port, "EXISTS", f"{self.prefix}:worker:{n}:alive") == 1 for n in names):
                    break
            except (OSError, RedisError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: the workers did not register in Redis:\n{self.stderr()}")
            time.sleep(0.05)

    def config(self, worker=None):
        q = {"max_concurrent": 4, "max_pending": 1024}
        if self.redis:
            q.update(broker=self.redis.url, broker_prefix=self.prefix)
        if worker:
            q["worker_name"] = worker
        return "queue:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in q.items())

    def start(self, name, config, extra=()):
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        with open(os.path.join(d, "ksid.yaml"), "w") as f:
            f.write(config)
        err = open(os.path.join(d, "stderr.log"), "wb")
        p = subprocess.Popen([self.args.ksid, "--config", "ksid.yaml", "--log-level", "warning", *extra], cwd=d,
                             env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        p.label, p.err = name, err
        self.procs.append(p)
        return d

    def check_alive(self):
        for p in self.procs:
            if p.poll() is not None:
                raise SystemExit(f"{self.name}: {p.label} exited with {p.returncode}:\n{self.stderr()}")

    def stderr(self):
        out = []
        for p in self.procs:
            with open(os.path.join(self.dir, p.label, "stderr.log"), errors="replace") as f:
                out.append(f"--- {p.label}:\n" + "\n".join(f.read().splitlines()[-20:]))
        return "\n".join(out)

    def stop(self):
        for p in reversed(self.procs):  # the workers first, then the front
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.err.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ksid", required=True)
    ap.add_argument("--fake-claude-dir", required=True)
    ap.add_argument("--redis-server", default="/usr/bin/redis-server")
    ap.add_argument("--load-tool", help="ksid_bench (its spawn-load mode drives the clients)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", default="1,2,3", help="worker counts to measure, comma-separated")
    args = ap.parse_args()
    args.ksid = os.path.abspath(args.ksid)
    args.fake_claude_dir = os.path.abspath(args.fake_claude_dir)
    if not os.access(args.redis_server, os.X_OK):
        print(f"redis bench skipped: {args.redis_server} is missing (scripts/test-deps installs it)")
        return
    import redis_fixture
    redis_fixture.REDIS_SERVER = args.redis_server

    def load(sock, seconds, clients):
        if args.load_tool:
            return tool_load(args.load_tool, sock, seconds, clients)
        return python_load(sock, seconds, clients)

    work = tempfile.mkdtemp(prefix="ksid-redis-bench-", dir=os.environ.get("KSID_BENCH_DIR"))
    redis = RedisServer()
    rows = []
    try:
        redis.start()
        setups = [("local queue", 0)] + [(f"redis, {n} worker{'s' if n > 1 else ''}", n)
                                         for n in map(int, args.workers.split(","))]
        for label, n in setups:
            s = Setup(args, work, label, redis=redis if n else None, workers=n)
            try:
                load(s.sock, min(1.0, args.seconds), args.clients)  # warm-up: page cache, connections, groups
                jobs, _, failures = load(s.sock, args.seconds, args.clients)
                _, latency, failures1 = load(s.sock, args.seconds, 1)
                rows.append((label, jobs, latency, failures + failures1))
            finally:
                s.stop()
    finally:
        redis.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    local_jobs, local_latency = rows[0][1], rows[0][2]
    client = "ksid_bench" if args.load_tool else "Python"
    print(f"== scale-out on Redis: sync SPAWN, fake CLI answering at once ({os.cpu_count()} cores, {client} clients)")
    print(f"   jobs/s with {args.clients} clients for {args.seconds:g} s; latency with 1 client; "
          f"max_concurrent 4 per daemon that runs turns")
    print(f"{'setup':<18} {'jobs/s':>9} {'ratio':>7} {'p50 ms':>8} {'added ms':>9} {'failures':>9}")
    for label, jobs, latency, failures in rows:
        added = "-" if label == rows[0][0] else f"{(latency - local_latency) * 1000:.2f}"
        print(f"{label:<18} {jobs:>9.1f} {jobs / local_jobs if local_jobs else 0:>7.2f} {latency * 1000:>8.2f} "
              f"{added:>9} {failures:>9}")


if __name__ == "__main__":
    main()
