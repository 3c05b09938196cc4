"""Warm-process benchmark (scripts/bench): the real claude CLI against the loopback Anthropic-API stub.

Baselines measured in the same run: a cold `claude -p` per turn, and a pre-started `claude --input-format
stream-json` process driven directly over its pipes (the best any wrapper can do). Figures: first-turn and
follow-up latency p50/p90, and turns per second at 1 and 4 clients, for ksid with pool.enabled (SPAWN over
the legacy socket) and, when it installs, the npm peer claude-max-api-proxy (OpenAI HTTP).
Prints one line per figure and the ratios the warm-process issue sets as targets."""
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
from anthropic_stub import claude_env  # noqa: E402

TOOLS = "Task Bash Glob Grep LS Read Edit MultiEdit Write WebFetch WebSearch"


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")


def ms(x):
    return f"{x * 1000:8.1f} ms"


class DirectProcess:
    """A pre-started `claude --input-format stream-json` driven over its pipes."""

    def __init__(self, claude, env, cwd):
        self.proc = subprocess.Popen([claude, "--model", "sonnet", "--print", "--input-format", "stream-json",
                                      "--output-format", "stream-json", "--verbose", "--include-partial-messages",
                                      "--allowedTools", TOOLS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd=cwd)

    def turn(self, prompt):
        line = {"type": "user", "message": {"role": "user", "content": prompt}, "parent_tool_use_id": None,
                "session_id": "default"}
        start = time.perf_counter()
        self.proc.stdin.write((json.dumps(line) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            out = self.proc.stdout.readline()
            if not out:
                raise RuntimeError("the claude process ended")
            if b'"type":"result"' in out:
                return time.perf_counter() - start

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def start_stub_and_dirs(work_prefix):
    """(stub process, its port, a HOME for the CLI, a work directory, the directory they are in): the stub as
    a script on a free port. KSID_BENCH_DIR=/dev/shm keeps the filesystem's own cost (this VM's ext4 metadata
    is slow) out of the figures."""
    stub = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "integration", "anthropic_stub.py"),
                             "--port", "0"], stdout=subprocess.PIPE, text=True)
    port = int(stub.stdout.readline())
    tmp = os.environ.get("KSID_BENCH_DIR") or None
    home = tempfile.mkdtemp(prefix="ksid-bench-home-", dir=tmp)
    return stub, port, home, tempfile.mkdtemp(prefix=work_prefix, dir=tmp), tmp


def cold_turn(claude, env, cwd, prompt="hello"):
    start = time.perf_counter()
    subprocess.run([claude, "--model", "sonnet", "--print", "--output-format", "json", "--allowedTools", TOOLS],
                   input=prompt.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd,
                   check=True)
    return time.perf_counter() - start


class Ksid:
    def __init__(self, binary, env, workdir):
        self.dir = workdir
        with open(os.path.join(workdir, "bench.yaml"), "w") as f:
            f.write("pool:\n  enabled: true\n  spares: 1\n  max_processes: 8\n  memory_budget: 8GiB\n"
                    "queue:\n  max_concurrent: 8\n")
        self.proc = subprocess.Popen([binary, "--config", "bench.yaml", "--log-level", "warning"], cwd=workdir,
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(os.path.join(workdir, "sockets", "claude_daemon.sock")):
                break
            time.sleep(0.05)

    def request(self, obj):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(os.path.join(self.dir, "sockets", "claude_daemon.sock"))
            s.sendall((json.dumps(obj) + "\n").encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data)

    def turn(self, prompt, session=None):
        params = {"mode": "sync", "type": "claude", "prompt": prompt}
        if session:
            params["session_id"] = session
        start = time.perf_counter()
        out = self.request({"command": "SPAWN", "version": "2.0", "parameters": params})["result"]
        took = time.perf_counter() - start
        if "error" in out:
            raise RuntimeError(f"ksid turn failed: {out}")
        return took, out["session_id"]

    def spares(self):
        procs = self.request({"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]
        return [p for p in procs.values() if p.get("type") == "warm_claude" and p["status"] == "spare"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def throughput(turn_fn, clients, seconds):
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i):
        state = {}
        while time.monotonic() < stop:
            turn_fn(i, state)
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ksid", required=True)
    p.add_argument("--claude", required=True)
    p.add_argument("--samples", type=int, default=8, help="first turns and cold turns measured")
    p.add_argument("--follow-ups", type=int, default=30)
    p.add_argument("--seconds", type=float, default=10, help="per throughput figure")
    p.add_argument("--peer", help="claude-max-api-proxy's standalone server script, if installed")
    a = p.parse_args()

    stub, port, home, work, tmp = start_stub_and_dirs("ksid-bench-warm-")
    env = claude_env(home, f"http://127.0.0.1:{port}")
    try:
        print("== warm claude processes (real CLI, loopback API stub)")
        cold = [cold_turn(a.claude, env, work) for _ in range(a.samples)]
        print(f"cold claude -p per turn        p50 {ms(pct(cold, 50))}  p90 {ms(pct(cold, 90))}")

        direct_first, direct_follow = [], []
        for i in range(a.samples):
            d = DirectProcess(a.claude, env, work)
            time.sleep(3)  # started ahead of the request
            direct_first.append(d.turn("hello"))
            if i == 0:
                direct_follow = [d.turn(f"again {j}") for j in range(a.follow_ups)]
            d.close()
        print(f"direct pre-started, first turn p50 {ms(pct(direct_first, 50))}  p90 {ms(pct(direct_first, 90))}")
        print(f"direct pre-started, follow-up  p50 {ms(pct(direct_follow, 50))}  p90 {ms(pct(direct_follow, 90))}")

        kenv = {k: v for k, v in env.items()}
        kenv["KSID_CLAUDE_COMMAND"] = a.claude
        kdir = tempfile.mkdtemp(prefix="ksid-bench-ksid-", dir=tmp)
        k = Ksid(a.ksid, kenv, kdir)
        try:
            first, follow = [], []
            session = None
            for i in range(a.samples):
                deadline = time.monotonic() + 20
                while not k.spares() and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(3)  # the spare, started ahead of the request
                took, s = k.turn("hello")
                first.append(took)
                session = session or s
            for j in range(a.follow_ups):
                follow.append(k.turn(f"again {j}", session)[0])
            print(f"ksid pool, first turn          p50 {ms(pct(first, 50))}  p90 {ms(pct(first, 90))}")
            print(f"ksid pool, follow-up           p50 {ms(pct(follow, 50))}  p90 {ms(pct(follow, 90))}")

            def ksid_turn(i, state):
                took, state["s"] = k.turn(f"client {i}", state.get("s"))

            rates = {c: throughput(ksid_turn, c, a.seconds) for c in (1, 4)}
        finally:
            k.stop()
            shutil.rmtree(kdir, ignore_errors=True)

        cold_rates = {c: throughput(lambda i, s: cold_turn(a.claude, env, work), c, a.seconds) for c in (1, 4)}
        for c in (1, 4):
            print(f"turns/s at {c} client(s): ksid pool {rates[c]:7.1f}   cold claude -p {cold_rates[c]:7.1f}"
                  f"   ratio {rates[c] / cold_rates[c]:6.1f}")

        peer_rate = None
        if a.peer:
            peer_rate = peer_throughput(a.peer, a.claude, env, 4, a.seconds)
            if peer_rate:
                print(f"turns/s at 4 clients: peer claude-max-api-proxy {peer_rate:7.1f}"
                      f"   ksid/peer {rates[4] / peer_rate:6.1f}  (target >= 5)")

        c50 = pct(cold, 50)
        print("== targets")
        print(f"follow-up p50: cold / ksid = {c50 / pct(follow, 50):6.1f}  (target >= 18)")
        print(f"first turn p50: cold / ksid = {c50 / pct(first, 50):6.1f}  (target >= 4)")
        print(f"first turn p50: ksid / direct pre-started = {pct(first, 50) / pct(direct_first, 50):6.2f}"
              "  (target <= 1.10)")
        print(f"warm turn p50 added by ksid: {(pct(follow, 50) - pct(direct_follow, 50)) * 1000:6.2f} ms"
              "  (target <= 2 ms)")
    finally:
        stub.terminate()
        stub.wait(5)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def peer_throughput(script, claude, env, clients, seconds):
    """claude-max-api-proxy on a loopback port with the same claude and stub; None if it does not answer."""
    port_sock = socket.socket()
    port_sock.bind(("127.0.0.1", 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    penv = dict(env, PORT=str(port), HOST="127.0.0.1",
                PATH=os.path.dirname(claude) + os.pathsep + env.get("PATH", ""))
    proc = subprocess.Popen(["node", script, str(port)], env=penv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        body = json.dumps({"model": "claude-sonnet-4", "messages": [{"role": "user", "content": "hello"}]})

        def post():
            with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(data[:200])

        for _ in range(100):
            try:
                post()
                break
            except (OSError, RuntimeError):
                time.sleep(0.2)
        else:
            print("peer claude-max-api-proxy: did not answer; skipped")
            return None
        return throughput(lambda i, s: post(), clients, seconds)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
