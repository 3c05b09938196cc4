"""A bounded soak: socket and HTTP clients together for a while, mixed commands and fake-CLI runs, then checks
that every request got exactly one reply, that fds and memory stayed bounded, that no zombie or orphan is
left and that every log line parses. Used by scripts/soak (long) and test_soak.py (short, in scripts/test).

    python3 soak.py --seconds 60 [--clients 6]
"""
import argparse
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ksid_harness import free_port, Ksid, open_fds, rss_kib  # noqa: E402


def cmd(name, **params):
    return {"command": name, "version": "2.0", "parameters": params}


def socket_requests(n):
    """The mixed one-shot traffic of a socket client; each entry: (request, check of the reply)."""
    return random.choice([
        (cmd("HEALTH_CHECK"), lambda r: r["result"]["status"] == "healthy"),
        (cmd("SET_SHARED", key=f"soak{n % 20}", value={"n": n, "pad": "x" * (n % 500)}), lambda r: r["result"]["status"] == "set"),
        (cmd("GET_SHARED", key=f"soak{n % 20}"), lambda r: "value" in r["result"]),
        (cmd("CREATE_IDENTITY", agent_id=f"soak-agent-{n % 10}", role="coder"), lambda r: r["status"] == "success"),
        (cmd("SPAWN", mode="sync", type="claude", prompt=f"soak {n}"), lambda r: r["result"].get("result") == f"ECHO: soak {n}"),
        (cmd("SPAWN", mode="async", type="claude", prompt=f"soak async {n}", agent_id="soak-watch"),
         lambda r: r["result"]["status"] == "started" or r["error"]["code"] == "QUEUE_FULL"),
        (cmd("SPAWN", mode="sync", type="claude", prompt="FAKE:crash"), lambda r: r["result"]["returncode"] == 3),
        (cmd("PUBLISH", from_agent="soak", event_type="BROADCAST", payload={"n": n}), lambda r: r["result"]["status"] == "broadcast"),
        (cmd("GET_PROCESSES"), lambda r: "processes" in r["result"]),
        (cmd("MESSAGE_BUS_STATS"), lambda r: "history_size" in r["result"]),
    ])


def run(seconds, clients, log=print):
    port = free_port()
    k = Ksid(env={"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(port), "KSID_MAX_CONCURRENT": "4",
                  "KSID_MAX_PENDING": "32", "KSID_RUN_TIME_LIMIT": "10"}).start()
    failures, counts, lock = [], {"socket": 0, "http": 0, "events": 0}, threading.Lock()
    stop = threading.Event()
    try:
        # a persistent subscriber that must keep receiving broadcasts and PROCESS_COMPLETE events
        sub = k.connect(timeout=30)
        sub.sendall((json.dumps(cmd("AGENT_CONNECTION", action="connect", agent_id="soak-watch")) + "\n").encode())
        k.request(cmd("SUBSCRIBE", agent_id="soak-watch", event_types=["BROADCAST", "PROCESS_COMPLETE"]))

        def read_events():
            buf = b""
            sub.settimeout(1)
            while not stop.is_set():
                try:
                    chunk = sub.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    json.loads(line)  # every event is one whole JSON line
                    with lock:
                        counts["events"] += 1

        def socket_client(i):
            n = i * 1000000
            while not stop.is_set():
                n += 1
                request, check = socket_requests(n)
                try:
                    reply = k.exchange((json.dumps(request) + "\n").encode(), timeout=30)
                    lines = reply.split(b"\n")
                    if len(lines) != 2 or lines[1] != b"":
                        raise AssertionError(f"expected exactly one reply line, got {reply[:200]!r}")
                    if not check(json.loads(lines[0])):
                        raise AssertionError(f"unexpected reply to {request['command']}: {lines[0][:300]!r}")
                    with lock:
                        counts["socket"] += 1
                except Exception as e:  # noqa: BLE001
                    failures.append(f"socket client {i}: {e}")
                    return

        def http_client(i):
            n = 0
            while not stop.is_set():
                n += 1
                stream = n % 3 == 0
                body = json.dumps({"model": "sonnet", "stream": stream,
                                   "messages": [{"role": "user", "content": f"http {i} {n}"}]}).encode()
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        text = r.read().decode()
                    if stream:
                        if not text.endswith("data: [DONE]\n\n") or f"http {i} {n}" not in "".join(
                                json.loads(l[6:])["choices"][0]["delta"].get("content", "")
                                for l in text.split("\n\n") if l.startswith("data: {") and json.loads(l[6:])["choices"]):
                            raise AssertionError(f"bad stream: {text[:300]}")
                    elif json.loads(text)["choices"][0]["message"]["content"] != f"ECHO: http {i} {n}":
                        raise AssertionError(f"bad completion: {text[:300]}")
                    with lock:
                        counts["http"] += 1
                except urllib.error.HTTPError as e:
                    if e.code != 429:  # a full queue is an allowed answer under load
                        failures.append(f"http client {i}: HTTP {e.code}: {e.read()[:200]!r}")
                        return
                except Exception as e:  # noqa: BLE001
                    failures.append(f"http client {i}: {e}")
                    return

        threads = [threading.Thread(target=read_events)]
        threads += [threading.Thread(target=socket_client, args=(i,)) for i in range(clients)]
        threads += [threading.Thread(target=http_client, args=(i,)) for i in range(max(1, clients // 2))]
        for t in threads:
            t.start()
        time.sleep(min(5, seconds / 4))
        fds_warm, rss_warm = open_fds(k.proc.pid), rss_kib(k.proc.pid)
        peak_rss, peak_fds = rss_warm, fds_warm
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not failures:
            time.sleep(1)
            peak_rss = max(peak_rss, rss_kib(k.proc.pid))
            peak_fds = max(peak_fds, open_fds(k.proc.pid))
        stop.set()
        for t in threads:
            t.join(60)
        time.sleep(1)
        fds_end, rss_end = open_fds(k.proc.pid), rss_kib(k.proc.pid)
        sub.close()
        # checks
        if fds_end > fds_warm + 20:
            failures.append(f"fds grew from {fds_warm} to {fds_end}")
        # Under AddressSanitizer freed memory sits in its quarantine, so RSS says nothing about leaks there
        # (LeakSanitizer checks those at exit instead).
        sanitized = "/asan/" in os.path.realpath(os.environ.get("KSID_BIN", ""))
        if not sanitized and rss_end > rss_warm + 64 * 1024:
            failures.append(f"RSS grew from {rss_warm} kB to {rss_end} kB")
        if k.zombie_children():
            failures.append(f"zombies: {k.zombie_children()}")
        code = k.stop(timeout=15)
        if code != 0:
            failures.append(f"ksid exited with {code}")
        if k.processes_with_marker():
            failures.append(f"orphans: {k.processes_with_marker()}")
        for root, _, files in os.walk(k.path("claude_logs")):
            for name in files:
                with open(os.path.join(root, name)) as f:
                    for line in f:
                        json.loads(line)
        for name in os.listdir(k.path("shared_state")):
            with open(k.path("shared_state", name)) as f:
                json.load(f)
        err = k.stderr()
        for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            if marker in err:
                failures.append("sanitizer report in ksid's stderr")
        log(f"soak: {seconds:.0f} s, {counts['socket']} socket requests, {counts['http']} HTTP completions, "
            f"{counts['events']} events; ksid RSS {rss_warm} kB warm, {peak_rss} kB peak, {rss_end} kB at the end; "
            f"fds {fds_warm} warm, {peak_fds} peak, {fds_end} at the end; {len(failures)} failure(s)")
        return failures, counts
    finally:
        stop.set()
        k.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    failures, _ = run(args.seconds, args.clients)
    for f in failures:
        print("FAILURE:", f)
    sys.exit(1 if failures else 0)
