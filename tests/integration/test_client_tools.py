"""Client tools (issue 17): a request's `tools` served through the real claude CLI's in-band MCP server on warm
processes, against the loopback Anthropic-API stub that asks for the client's tool and then answers with what
the tool returned. The official SDKs' own tool loops are the clients (openai runTools, @anthropic-ai/sdk
toolRunner), streamed and not; raw HTTP for what they hide (the pending call, ids, eviction, errors)."""
import json
import os
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import analyse, claude_bin  # noqa: E402
from ksid_harness import KsidTestCase, free_port, wait_until  # noqa: E402
from real_claude_facade import RealClaudeFacadeCase, post_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLAUDE = claude_bin()
MODULES = os.path.join(HERE, "..", "..", "build", "tools", "node_modules")
AVAILABLE = os.access(CLAUDE, os.X_OK) and os.path.isdir(os.path.join(MODULES, "openai")) and \
    os.path.isdir(os.path.join(MODULES, "@anthropic-ai", "sdk"))
if not AVAILABLE and os.environ.get("KSID_REQUIRE_REAL_CLAUDE"):
    raise RuntimeError("the real claude CLI and the SDKs are required: run scripts/test-deps")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK_PARIS = 'STUB_TOOL_USE:mcp__client__get_weather {"city": "Paris"}'
ASK_TWO = ('STUB_TOOL_USES:[{"name":"mcp__client__get_weather","input":{"city":"Paris"}},'
           '{"name":"mcp__client__get_weather","input":{"city":"Rome"}}]')


class ClientToolsCase(RealClaudeFacadeCase):
    ksid_config_extra = "pool:\n  enabled: true\n  spares: 1\n  max_processes: 4\n"

    def chat(self, messages, **fields):
        return self.post("/v1/chat/completions", dict({"model": "sonnet", "messages": messages,
                                                       "tools": [WEATHER]}, **fields))

    def loop(self, api, prompt, stream=False, body=None):
        out = subprocess.run(["node", os.path.join(HERE, "tool_loop_client.mjs"), api,
                              self.base + ("/v1" if api == "openai" else ""), "no-key-needed",
                              json.dumps({"prompt": prompt, "stream": stream, "body": body or {}})],
                             capture_output=True, text=True, timeout=180)
        self.assertEqual(out.returncode, 0, out.stderr)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if "sdkFailure" in result:
            with open(self.ksid.path("logs", "daemon.log")) as f:
                self.fail(f"{result}\ndaemon.log:\n{f.read()[-3000:]}")
        return result

    def warm(self):
        procs = self.ksid.request({"command": "GET_PROCESSES", "version": "2.0"})["result"]["processes"]
        return [p for p in procs.values() if p.get("type") == "warm_claude"]

    def metrics(self):
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as r:
            return r.read().decode()


@unittest.skipUnless(AVAILABLE, "the claude CLI and the SDKs are not installed: run scripts/test-deps")
class SdkToolLoops(ClientToolsCase):
    def check_one_call(self, r):
        self.assertEqual(r["calls"], ["Paris"])  # the SDK ran the client's tool once
        self.assertEqual(r["final"], "TOOL_RESULT[1]: sunny in Paris")  # the model got what the tool returned
        self.assertEqual(r["requests"], 2)
        self.assertRegex(r["toolCallIds"][0], r"^toolu_")  # the model's own call id

    def test_openai_run_tools(self):
        r = self.loop("openai", ASK_PARIS)
        self.check_one_call(r)
        self.assertEqual(r["lastFinish"], "stop")
        # The client's tool only: no built-in tool was offered to the model (the CLI's own never-called
        # DeferredToolPlaceholder, which keeps deferred loading on, aside).
        offered = {t for tools in self.stub.offered_tools for t in tools} - {"DeferredToolPlaceholder"}
        self.assertEqual(offered, {"mcp__client__get_weather"})
        self.assertIn('ksid_pool_events_total{event="tool_round"} 1', self.metrics())

    def test_openai_run_tools_streamed(self):
        self.check_one_call(self.loop("openai", ASK_PARIS, stream=True))

    def test_anthropic_tool_runner(self):
        r = self.loop("anthropic", ASK_PARIS)
        self.check_one_call(r)
        self.assertEqual(r["lastFinish"], "end_turn")

    def test_anthropic_tool_runner_streamed(self):
        self.check_one_call(self.loop("anthropic", ASK_PARIS, stream=True))

    def test_two_parallel_calls(self):
        for api in ("openai", "anthropic"):
            with self.subTest(api=api):
                r = self.loop(api, ASK_TWO)
                self.assertEqual(sorted(r["calls"]), ["Paris", "Rome"])
                self.assertEqual(r["final"], "TOOL_RESULT[1]: sunny in Paris | sunny in Rome")
                self.assertEqual(r["requests"], 2)  # both calls in one response

    def test_a_forced_tool_choice_is_refused_with_the_reason(self):
        status, _, body = self.chat([{"role": "user", "content": "x"}], tool_choice="required")
        self.assertEqual(status, 400)
        self.assertIn("cannot be honoured", body["error"]["message"])
        status, _, body = self.post("/v1/messages", {"model": "sonnet", "max_tokens": 10,
                                                     "tool_choice": {"type": "tool", "name": "get_weather"},
                                                     "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual((status, body["error"]["type"]), (400, "invalid_request_error"))
        # "none" is honoured: the model is not offered the tool.
        self.stub.clear()
        status, _, body = self.chat([{"role": "user", "content": "plain"}], tool_choice="none")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["message"]["content"], "ECHO[1]: plain")
        self.assertNotIn("mcp__client__get_weather", [t for tools in self.stub.offered_tools for t in tools])


@unittest.skipUnless(AVAILABLE, "the claude CLI is not installed: run scripts/test-deps")
class PendingCalls(ClientToolsCase):
    ksid_config_extra = "pool:\n  enabled: true\n  spares: 1\n  max_processes: 4\n  tool_result_wait: 2\n"

    def first_round(self):
        question = [{"role": "user", "content": ASK_PARIS}]
        status, headers, body = self.chat(question)
        self.assertEqual(status, 200, body)
        message = body["choices"][0]["message"]
        self.assertEqual(body["choices"][0]["finish_reason"], "tool_calls")
        call = message["tool_calls"][0]
        self.assertEqual(call["function"]["name"], "get_weather")
        self.assertEqual(json.loads(call["function"]["arguments"]), {"city": "Paris"})
        return question + [message], call["id"]

    def test_the_call_waits_in_its_process_then_the_result_continues_the_turn(self):
        conversation, call_id = self.first_round()
        awaiting = [p for p in self.warm() if p["status"] == "awaiting_tool_results"]
        self.assertEqual(len(awaiting), 1, self.warm())
        status, _, body = self.chat(conversation + [{"role": "tool", "tool_call_id": call_id, "content": "cloudy"}])
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["message"]["content"], "TOOL_RESULT[1]: cloudy")
        self.assertEqual([p["pid"] for p in self.warm() if p["session_id"] == body["id"]], [awaiting[0]["pid"]])

    def test_a_tool_results_image_reaches_the_api(self):
        png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        tools = [{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}]
        question = [{"role": "user", "content": ASK_PARIS}]
        status, _, first = self.post("/v1/messages", {"model": "sonnet", "max_tokens": 100, "tools": tools,
                                                      "messages": question})
        self.assertEqual((status, first["stop_reason"]), (200, "tool_use"), first)
        call = first["content"][-1]
        self.assertEqual((call["type"], call["name"], call["input"]), ("tool_use", "get_weather", {"city": "Paris"}))
        result = {"type": "tool_result", "tool_use_id": call["id"], "content": [
            {"type": "text", "text": "a chart"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}]}
        status, _, second = self.post("/v1/messages", {"model": "sonnet", "max_tokens": 100, "tools": tools,
                                                       "messages": question + [
                                                           {"role": "assistant", "content": first["content"]},
                                                           {"role": "user", "content": [result]}]})
        self.assertEqual(status, 200, second)
        # (The CLI adds a text block saying where it kept the image.)
        self.assertTrue(second["content"][0]["text"].startswith("TOOL_RESULT[1]: a chart"), second)
        last = self.stub.message_requests()[-1]
        sent = [b for m in last["messages"] if m["role"] == "user" and isinstance(m["content"], list)
                for b in m["content"] if b.get("type") == "tool_result"][-1]
        self.assertIn({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                      sent["content"])  # the MCP image content, as the API's image block, byte-exact

    def test_mismatched_ids_are_a_400(self):
        conversation, call_id = self.first_round()
        for results in ([{"role": "tool", "tool_call_id": "toolu_other", "content": "x"}],
                        [{"role": "tool", "tool_call_id": call_id, "content": "x"},
                         {"role": "tool", "tool_call_id": call_id, "content": "y"}]):
            status, _, body = self.chat(conversation + results)
            self.assertEqual(status, 400, body)
            self.assertEqual(body["error"]["param"], "messages")
        # The pending call is still there for the right answer.
        status, _, body = self.chat(conversation + [{"role": "tool", "tool_call_id": call_id, "content": "ok"}])
        self.assertEqual(body["choices"][0]["message"]["content"], "TOOL_RESULT[1]: ok", body)

    def test_past_the_wait_the_call_fails_in_the_cli_and_late_results_are_replayed(self):
        conversation, call_id = self.first_round()
        pid = [p for p in self.warm() if p["status"] == "awaiting_tool_results"][0]["pid"]
        # The pending call fails inside the CLI; its turn ends unheard, and the process stays for its session.
        self.assertTrue(wait_until(lambda: any(p["pid"] == pid and p["status"] == "idle" for p in self.warm()),
                                   timeout=10), self.warm())
        answered = [analyse(body)[2] for body in self.stub.message_requests()]
        self.assertIn("The client did not return this tool's result within 2 s.", answered)
        self.assertIn('ksid_pool_events_total{event="tool_abandon"} 1', self.metrics())
        status, _, body = self.chat(conversation + [{"role": "tool", "tool_call_id": call_id, "content": "foggy"}])
        self.assertEqual(status, 200, body)
        text = body["choices"][0]["message"]["content"]
        self.assertIn(f"Tool result for call {call_id}: foggy", text)  # the stub echoed the replayed transcript
        self.assertIn('ksid_pool_events_total{event="tool_replay"} 1', self.metrics())


class WithoutThePool(KsidTestCase):
    """The fake claude, no warm pool: tools cannot be served; the request still runs, and says so."""

    def setUp(self):
        self.port = free_port()
        self.ksid_env = {"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.port)}
        super().setUp()

    def test_tools_are_not_offered_and_the_response_says_so(self):
        status, headers, raw = post_json(self.port, "/v1/chat/completions", {
            "model": "sonnet", "tools": [WEATHER], "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        self.assertEqual((status, headers["x-ksid-client-tools"]), (200, "unavailable"))
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["content"], "ECHO: hi")


if __name__ == "__main__":
    unittest.main()
