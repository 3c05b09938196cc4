"""Client-tools benchmark (scripts/bench): the real claude CLI behind ksid's facade, against the loopback
Anthropic-API stub, one tool call per conversation (OpenAI chat completions).

Measured in the same run: the round that brings the tool's result, answered in the process that awaits it
(ksid's way), against the same round replayed as a transcript in a fresh (pre-started) process, which is what
a server without pending calls has to do, and against a cold `claude -p` of that transcript (a server without
warm processes). Prints p50/p90 of each and the ratios."""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from anthropic_stub import claude_env  # noqa: E402
from warm_bench import cold_turn, ms, pct, start_stub_and_dirs  # noqa: E402

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = 'STUB_TOOL_USE:mcp__client__get_weather {"city": "Paris"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, messages):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", json.dumps({"model": "sonnet", "messages": messages,
                                                              "tools": [TOOL]}),
                 {"Content-Type": "application/json"})
    body = json.loads(conn.getresponse().read())
    took = time.perf_counter() - start
    conn.close()
    if "error" in body:
        raise RuntimeError(f"ksid answered an error: {body}")
    return took, body["choices"][0]["message"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ksid", required=True)
    p.add_argument("--claude", required=True)
    p.add_argument("--samples", type=int, default=12)
    a = p.parse_args()

    stub, stub_port, home, work, _ = start_stub_and_dirs("ksid-bench-tools-")
    port = free_port()
    env = dict(claude_env(home, f"http://127.0.0.1:{stub_port}"), KSID_CLAUDE_COMMAND=os.path.abspath(a.claude))
    with open(os.path.join(work, "bench.yaml"), "w") as f:
        # idle_ttl: each conversation's process goes before the next, leaving room for the spares.
        f.write(f"pool:\n  enabled: true\n  spares: 2\n  max_processes: 8\n  memory_budget: 8GiB\n  idle_ttl: 2\n"
                f"facade:\n  enabled: true\n  port: {port}\n")
    ksid = None
    try:
        ksid = subprocess.Popen([os.path.abspath(a.ksid), "--config", "bench.yaml", "--log-level", "warning"],
                                cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        print("== client tools (real CLI, loopback API stub, OpenAI chat completions)")
        in_place, replayed, first = [], [], []
        for i in range(a.samples):
            time.sleep(4)  # spares of the tool key started ahead (3-4 s), as between a client's conversations
            question = [{"role": "user", "content": ASK}]
            took, call_message = post(port, question)
            first.append(took)
            call_id = call_message["tool_calls"][0]["id"]
            took, answer = post(port, question + [call_message, {"role": "tool", "tool_call_id": call_id,
                                                                 "content": "sunny"}])
            assert answer["content"] == "TOOL_RESULT[1]: sunny", answer
            in_place.append(took)
            # The same round with a call no process awaits: replayed as a transcript in a spare.
            gone = dict(call_message, tool_calls=[dict(call_message["tool_calls"][0], id=f"toolu_gone{i}")])
            time.sleep(4)
            took, answer = post(port, question + [gone, {"role": "tool", "tool_call_id": f"toolu_gone{i}",
                                                         "content": "sunny"}])
            assert "Tool result for call" in answer["content"], answer
            replayed.append(took)
        # What a server without warm processes does for that round: a cold claude -p of the transcript.
        transcript = (f"User: {ASK}\n\nAssistant: (called tool get_weather as call toolu_x with "
                      '{"city":"Paris"})\n\nTool result for call toolu_x: sunny')
        cold = [cold_turn(os.path.abspath(a.claude), env, work, transcript) for _ in range(max(3, a.samples // 2))]
        print(f"first round (the call)          p50 {ms(pct(first, 50))}  p90 {ms(pct(first, 90))}")
        print(f"result round, in its process    p50 {ms(pct(in_place, 50))}  p90 {ms(pct(in_place, 90))}")
        print(f"result round, replayed          p50 {ms(pct(replayed, 50))}  p90 {ms(pct(replayed, 90))}")
        print(f"result round, cold claude -p    p50 {ms(pct(cold, 50))}  p90 {ms(pct(cold, 90))}")
        print(f"result round p50: replayed / in place = {pct(replayed, 50) / pct(in_place, 50):6.2f}")
        print(f"result round p50: cold claude -p / in place = {pct(cold, 50) / pct(in_place, 50):6.2f}")
    finally:
        if ksid:
            ksid.send_signal(signal.SIGTERM)
            ksid.wait(15)
        stub.terminate()
        stub.wait(5)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
