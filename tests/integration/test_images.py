"""Images (issue 17): OpenAI image_url parts (data URLs, http(s) URLs) and Anthropic image blocks reach the real
claude CLI as image content blocks over stream-json input, and from it the API (the stub) byte-exact; a cold
claude and a warm process alike. Over the bounds a request is a 413 that names the limit."""
import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import real_claude  # noqa: E402
from real_claude_facade import RealClaudeFacadeCase  # noqa: E402

CLAUDE, AVAILABLE = real_claude()

# A real 1x1 PNG, and a second image with bytes of every value.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
GIF = base64.b64encode(b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(range(256))).decode()


class ImagesCase(RealClaudeFacadeCase):
    facade_config = "  max_images: 3\n  max_image_bytes: 2KiB\n  max_images_total_bytes: 3KiB\n"

    def post(self, path, body):
        status, _, parsed = super().post(path, body)
        return status, parsed

    def images_the_api_got(self):
        """The image blocks of the last user message of the stub's last request."""
        body = [r for r in self.stub.requests if r["path"].startswith("/v1/messages")][-1]["body"]
        user = [m for m in body["messages"] if m["role"] == "user"][-1]
        return [b for b in user["content"] if isinstance(b, dict) and b.get("type") == "image"]

    def check_both_routes(self):
        self.stub.clear()
        status, body = self.post("/v1/chat/completions", {"model": "sonnet", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what are these?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}]}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["message"]["content"], "ECHO[1]: what are these?")
        self.assertEqual(self.images_the_api_got(), [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}])

        status, body = self.post("/v1/messages", {"model": "sonnet", "max_tokens": 100, "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/gif",
                                                                      "data": GIF}},
                                         {"type": "text", "text": "and this?"}]}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["content"][0]["text"], "ECHO[1]: and this?")
        self.assertEqual(self.images_the_api_got(),
                         [{"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": GIF}}])


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class ColdClaude(ImagesCase):
    def test_images_reach_the_api_byte_exact(self):
        self.check_both_routes()

    def test_over_the_bounds_is_a_413_naming_the_limit(self):
        big = base64.b64encode(bytes(3000)).decode()
        mid = base64.b64encode(bytes(1500)).decode()
        for images, limit in (([big], "facade.max_image_bytes"), ([PNG] * 4, "facade.max_images"),
                              ([mid, mid, mid], "facade.max_images_total_bytes")):
            parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + d}} for d in images]
            status, body = self.post("/v1/chat/completions", {"model": "sonnet", "messages": [
                {"role": "user", "content": [{"type": "text", "text": "x"}] + parts}]})
            self.assertEqual(status, 413, body)
            self.assertIn(limit, body["error"]["message"])
            blocks = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}}
                      for d in images]
            status, body = self.post("/v1/messages", {"model": "sonnet", "max_tokens": 10, "messages": [
                {"role": "user", "content": blocks + [{"type": "text", "text": "x"}]}]})
            self.assertEqual((status, body["error"]["type"]), (413, "request_too_large"), body)
            self.assertIn(limit, body["error"]["message"])


@unittest.skipUnless(AVAILABLE, f"claude CLI not installed at {CLAUDE}: run scripts/test-deps")
class WarmClaude(ImagesCase):
    ksid_config_extra = "pool:\n  enabled: true\n  spares: 1\n"

    def test_images_reach_the_api_byte_exact(self):
        self.check_both_routes()


if __name__ == "__main__":
    unittest.main()
