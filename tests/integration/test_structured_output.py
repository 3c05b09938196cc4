"""Structured output (issue 17): response_format json_schema / json_object and Anthropic output_format. The real
CLI gets --json-schema and answers through its StructuredOutput tool (the stub calls it); ksid checks the object
again against the schema and puts it in the content, or answers a refusal, never an unchecked object. The fake
claude returns objects the CLI would not have checked, for ksid's own check."""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import StubServerMixin, real_claude  # noqa: E402
from ksid_harness import KsidTestCase, free_port  # noqa: E402
from real_claude_facade import post_json  # noqa: E402

CLAUDE, AVAILABLE = real_claude()

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
          "required": ["city", "temp"], "additionalProperties": False}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}}


class StructuredCase(KsidTestCase):
    def setUp(self):
        self.port = free_port()
        self.ksid_env = dict(getattr(self, "extra_env", {}), KSID_FACADE_ENABLED="true",
                             KSID_FACADE_PORT=str(self.port))
        super().setUp()

    def post(self, path, body):
        status, _, raw = post_json(self.port, path, body)
        return status, raw

    def chat(self, prompt, response_format=JSON_SCHEMA, stream=False):
        status, raw = self.post("/v1/chat/completions", {"model": "sonnet", "stream": stream,
                                                         "response_format": response_format,
                                                         "messages": [{"role": "user", "content": prompt}]})
        if stream:
            self.assertEqual(status, 200, raw)
            chunks = [json.loads(l[6:]) for l in raw.decode().splitlines() if l.startswith("data: {")]
            deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
            return deltas
        return status, json.loads(raw)

    def messages(self, prompt, stream=False):
        status, raw = self.post("/v1/messages", {"model": "sonnet", "max_tokens": 100, "stream": stream,
                                                 "output_format": {"type": "json_schema", "schema": SCHEMA},
                                                 "messages": [{"role": "user", "content": prompt}]})
        return status, raw if stream else json.loads(raw)


class WithTheFakeClaude(StructuredCase):
    """ksid's own check, on objects the fake claude returns unchecked."""

    def test_a_valid_object_is_the_content_and_the_schema_goes_on_argv(self):
        status, body = self.chat('FAKE:structured={"city": "Paris", "temp": 21.5}\n')
        self.assertEqual(status, 200, body)
        message = body["choices"][0]["message"]
        self.assertEqual(json.loads(message["content"]), {"city": "Paris", "temp": 21.5})
        self.assertNotIn("refusal", message)

    def test_a_violating_object_is_refused_never_passed_on(self):
        status, body = self.chat('FAKE:structured={"city": 5, "temp": "warm"}\n')
        self.assertEqual(status, 200, body)
        message = body["choices"][0]["message"]
        self.assertIsNone(message["content"])
        self.assertIn("does not satisfy the schema", message["refusal"])
        self.assertIn("city", message["refusal"])
        status, body = self.chat("no structured answer at all")
        self.assertIn("did not return JSON", body["choices"][0]["message"]["refusal"])
        status, body = self.messages('FAKE:structured={"city": "Rome"}\n')
        self.assertEqual((status, body["stop_reason"]), (200, "refusal"), body)
        self.assertIn("temp", body["content"][0]["text"])

    def test_streamed_only_the_checked_json_is_content(self):
        deltas = self.chat('FAKE:structured={"city": "Oslo", "temp": -3}\n', stream=True)
        content = "".join(d.get("content") or "" for d in deltas)
        self.assertEqual(json.loads(content), {"city": "Oslo", "temp": -3})  # no ECHO text streamed before it
        deltas = self.chat('FAKE:structured={"city": 1}\n', stream=True)
        self.assertIn("does not satisfy", "".join(d.get("refusal") or "" for d in deltas))
        self.assertEqual("".join(d.get("content") or "" for d in deltas), "")
        status, raw = self.messages('FAKE:structured={"city": "Oslo", "temp": -3}\n', stream=True)
        events = [json.loads(l[6:]) for l in raw.decode().splitlines() if l.startswith("data: ")]
        text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
        self.assertEqual(json.loads(text), {"city": "Oslo", "temp": -3})

    def test_json_object_and_bad_schemas(self):
        status, body = self.chat('FAKE:structured={"any": [1, 2]}\n', response_format={"type": "json_object"})
        self.assertEqual(json.loads(body["choices"][0]["message"]["content"]), {"any": [1, 2]})
        status, body = self.chat('FAKE:structured=[1, 2]\n', response_format={"type": "json_object"})
        self.assertIn("refusal", body["choices"][0]["message"])  # not an object
        for rf, param in (({"type": "json_schema", "json_schema": {"name": "x"}}, "response_format.json_schema.schema"),
                          ({"type": "json_schema", "json_schema": {"schema": {"patternProperties": {"^a": {}}}}},
                           "response_format.json_schema.schema"),
                          ({"type": "json_schema", "json_schema": {"schema": {"$ref": "https://x/s.json"}}},
                           "response_format.json_schema.schema"),
                          ({"type": "xml"}, "response_format.type")):
            status, body = self.chat("x", response_format=rf)
            self.assertEqual((status, body["error"]["param"]), (400, param), body)


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class WithTheRealClaude(StubServerMixin, StructuredCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-claude-home-")
        self.extra_env = dict(self.ksid_claude_env(self.home), KSID_RUN_TIME_LIMIT="60")
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.home, ignore_errors=True)

    def test_the_clis_structured_output_checked_and_returned(self):
        status, body = self.chat('STUB_TOOL_USE:StructuredOutput {"city": "Paris", "temp": 21}')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body["choices"][0]["message"]["content"]), {"city": "Paris", "temp": 21})
        offered = {t for tools in self.stub.offered_tools for t in tools}
        self.assertIn("StructuredOutput", offered)  # the CLI's --json-schema tool
        status, body = self.messages('STUB_TOOL_USE:StructuredOutput {"city": "Lima", "temp": 18}')
        self.assertEqual(json.loads(body["content"][0]["text"]), {"city": "Lima", "temp": 18})
        self.assertEqual(body["stop_reason"], "end_turn")

    def test_a_violating_answer_is_a_refusal(self):
        # The CLI refuses the tool input itself and asks again; the stub never complies: no object at all.
        status, body = self.chat('STUB_TOOL_USE:StructuredOutput {"city": 5}')
        self.assertEqual(status, 200, body)
        message = body["choices"][0]["message"]
        self.assertIsNone(message["content"])
        self.assertIn("did not return JSON", message["refusal"])


if __name__ == "__main__":
    unittest.main()
