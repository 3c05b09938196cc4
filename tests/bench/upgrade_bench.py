"""RELOAD_DAEMON benchmark (scripts/bench): what clients see while the daemon is replaced.

Two clients send one-shot HEALTH_CHECKs in a loop against ksid (fake claude) while it is replaced five times:
first by RELOAD_DAEMON (the upgrade in place), then by the baseline a daemon without it offers, a restart
(SIGTERM, then start again). Prints, for each, the failed requests (refused or reset connections), the
slowest answer and p99 against the steady state measured in the same run, and how long a reload takes."""
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


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


class Loop:
    """Clients sending HEALTH_CHECK one-shot requests until stopped: latencies and failures."""

    def __init__(self, sock, clients=2):
        self.sock, self.stop, self.latencies, self.failures = sock, threading.Event(), [], 0
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        line = (json.dumps({"command": "HEALTH_CHECK", "version": "2.0"}) + "\n").encode()
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(30)
                    s.connect(self.sock)
                    s.sendall(line)
                    if not s.makefile("rb").readline():
                        raise OSError("no reply")
                self.latencies.append(time.perf_counter() - start)
            except OSError:
                self.failures += 1
                time.sleep(0.001)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def alive(pid):
    try:
        os.waitpid(pid, os.WNOHANG)  # ours (a restarted one): reap it
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def request(sock, obj, timeout=60):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(sock)
        s.sendall((json.dumps(obj) + "\n").encode())
        return json.loads(s.makefile("rb").readline())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ksid", required=True)
    ap.add_argument("--fake-claude-dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    args.ksid = os.path.abspath(args.ksid)
    args.fake_claude_dir = os.path.abspath(args.fake_claude_dir)
    work = tempfile.mkdtemp(prefix="ksid-upgrade-bench-")
    env = dict(os.environ, PATH=args.fake_claude_dir + os.pathsep + os.environ["PATH"])
    sock = os.path.join(work, "sockets", "claude_daemon.sock")
    pid_file = os.path.join(work, "sockets", "claude_daemon.pid")

    def start():
        p = subprocess.Popen([args.ksid], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                if request(sock, {"command": "HEALTH_CHECK", "version": "2.0"}, 1)["status"] == "success":
                    return p
            except OSError:
                time.sleep(0.01)
        raise SystemExit("ksid did not start")

    start()
    try:
        steady = Loop(sock)
        time.sleep(2)
        steady.finish()

        loop = Loop(sock)
        reload_times = []
        for _ in range(args.rounds):
            time.sleep(0.5)
            t = time.perf_counter()
            r = request(sock, {"command": "RELOAD_DAEMON", "version": "2.0"})
            reload_times.append(time.perf_counter() - t)
            if r.get("result", {}).get("status") != "reloaded":
                raise SystemExit(f"RELOAD_DAEMON failed: {r}")
        time.sleep(0.5)
        loop.finish()

        restart = Loop(sock)
        for _ in range(args.rounds):
            time.sleep(0.5)
            with open(pid_file) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)
            while alive(pid):
                time.sleep(0.005)
            start()
        time.sleep(0.5)
        restart.finish()

        ms = lambda s: f"{s * 1000:.1f} ms"
        print(f"steady state: {len(steady.latencies)} HEALTH_CHECKs, p99 {ms(pct(steady.latencies, 0.99))}, "
              f"slowest {ms(max(steady.latencies))}, failures {steady.failures}")
        print(f"{args.rounds} RELOAD_DAEMONs under load: {len(loop.latencies)} answered, failures {loop.failures}, "
              f"p99 {ms(pct(loop.latencies, 0.99))} (ratio {pct(loop.latencies, 0.99) / pct(steady.latencies, 0.99):.2f}"
              f" to steady), slowest {ms(max(loop.latencies))}; a reload answers in p50 "
              f"{ms(pct(reload_times, 0.5))}")
        print(f"{args.rounds} restarts (the baseline) under load: {len(restart.latencies)} answered, failures "
              f"{restart.failures}, slowest {ms(max(restart.latencies))}")
    finally:
        try:
            with open(pid_file) as f:
                os.kill(int(f.read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
