"""A loopback stand-in for the Anthropic Messages API, for running the real `claude` CLI in tests.

Standard library only. As a module:

    with AnthropicStub() as stub:                    # or stub = AnthropicStub().start(); ...; stub.stop()
        env = claude_env(home_dir, stub.base_url)
        subprocess.run([claude_bin(), "--print", ...], env=env, input=b"hi")
        stub.requests                                 # every request received, in order

As a script: `python3 anthropic_stub.py [--port 0] [--log]` prints the chosen port on its first stdout line,
then serves until killed.

`POST /v1/messages` (with or without `?beta=true`) answers `ECHO[<user turns>]: <last user text>`:
- the last user text is the last `text` block of the last `user` message that has text besides
  `<system-reminder>` sections, without them (content may be a string or a list of blocks; the CLI's
  `[Image: source: ...]` notes beside images do not count);
- user turns are the `user` messages that contain such a real text block (tool results and system reminders
  alone do not count).
The answer streams as server-sent events when `stream` is true (the CLI always asks for that), one
`text_delta` per word, else it is one JSON message.

Special prompts (searched in the last user text):
- `STUB_SLOW:<seconds>` waits that long before answering;
- `STUB_ERROR:<status>` answers that HTTP status with an Anthropic error body and `x-should-retry: false`:
  the CLI gives up at once (exit 1, a JSON result with `is_error: true`; on a 400 it first retries a few
  times with fewer `anthropic-beta` features). `STUB_ERROR:<status>:retry` leaves that header out, so the
  CLI retries with back-off (for 429/5xx/529 that runs for minutes: for time-limit tests);
- `STUB_TOOL:<shell command>` (to the end of the line) first asks for one `Bash` tool call running it;
  the request that carries its `tool_result` is answered `TOOL_RESULT[<user turns>]: <result text>`;
- `STUB_TOOL_USE:<Name> <json input>` first asks for one call of tool <Name> with that input (answered the
  same way). `STUB_TOOL_USES:<json array of {"name", "input"}>` asks for those calls in one message (parallel
  calls); their results are answered together, joined by " | ". `offered_tools` lists the tool names each
  request offered the model. A text that holds "Tool result for call " (a conversation ksid replayed as text)
  is echoed instead.
- `STUB_FLAKY:<status>:<n>` answers that status (an Anthropic error body; 429 and 529 with `retry-after: 1`
  when the prompt also holds `STUB_RETRY_AFTER`) to the first <n> requests with this exact text, then
  answers normally: for retry tests;
- `STUB_RESET` sends the response's head and part of its body (one text delta when streaming), then resets
  the connection.

`statuses` lists the status of each /v1/messages answer, in order. With `session_id=...` the stub answers
like a ksid facade's `/v1/messages`: its `X-Session-Id` header carries the request's `X-Session-Id` header,
else its top-level `session_id`, else that id. `tls=(cert, key)` serves https.

`POST /v1/messages/count_tokens` answers a rough `{"input_tokens": N}`; any other path answers 404 with an
Anthropic `not_found_error` body.
"""
import argparse
import json
import os
import re
import shutil
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("KSID_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))

SYSTEM_REMINDER = "<system-reminder>"
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    503: "api_error", 529: "overloaded_error",
}

# Variables of the caller's environment that would point the CLI at another account, API, config or proxy.
_STRIP_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "CLAUDECODE", "AWS_BEARER_TOKEN_BEDROCK", "VERTEX_")
_STRIP_NAMES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "MCP_TIMEOUT"}


def claude_bin():
    """Path of the CLI installed by scripts/test-deps (it may not exist)."""
    return os.environ.get("KSID_TEST_CLAUDE_BIN") or os.path.join(
        SOURCE_DIR, "build", "tools", "node_modules", ".bin", "claude")


def real_claude():
    """(path, available) of the CLI scripts/test-deps installs. With KSID_REQUIRE_REAL_CLAUDE set (CI) a
    missing CLI is an error, not a skipped test."""
    path = claude_bin()
    available = os.access(path, os.X_OK)
    if not available and os.environ.get("KSID_REQUIRE_REAL_CLAUDE"):
        raise RuntimeError(f"the real claude CLI is required but missing at {path}: run scripts/test-deps")
    return path, available


def claude_env(home_dir, base_url, base=None):
    """Environment for running the real CLI against a stub: own HOME, fake key, loopback API only.

    Starts from `base` (default os.environ) without anything that would redirect the CLI elsewhere.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith(_STRIP_PREFIXES) and k not in _STRIP_NAMES}
    env.update({
        "HOME": home_dir,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": base_url,
        # No telemetry, error reporting, auto-update, release-notes or other non-essential requests.
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_NON_ESSENTIAL_MODEL_CALLS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return env


class StubServerMixin:
    """A unittest mixin: one stub for the whole test class (self.stub), and the environment that makes a
    ksid under test run the real CLI against it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stub = AnthropicStub().start()

    @classmethod
    def tearDownClass(cls):
        cls.stub.stop()
        super().tearDownClass()

    def ksid_claude_env(self, home_dir):
        env = {k: v for k, v in claude_env(home_dir, self.stub.base_url, base={}).items() if k != "PATH"}
        env["KSID_CLAUDE_COMMAND"] = os.path.abspath(claude_bin())
        return env


def _blocks(content):
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


_REMINDER_SECTION = re.compile(r"<system-reminder>.*?</system-reminder>\s*", re.S)


def _real_texts(message):
    """The user's own text of each text block: without <system-reminder> sections (a block that is only
    reminders does not count). A prompt that went through another Claude Code first (ksid's /v1/messages in
    front of the CLI) carries the outer CLI's reminders in its text."""
    out = []
    for b in _blocks(message.get("content")):
        if b.get("type") != "text" or not isinstance(b.get("text"), str):
            continue
        text = b["text"]
        if text.lstrip().startswith(SYSTEM_REMINDER):
            text = _REMINDER_SECTION.sub("", text).strip()
        if text.startswith("[Image: source: "):
            continue  # the CLI's note of where it kept an image the user sent
        if text.strip() and not text.lstrip().startswith(SYSTEM_REMINDER):
            out.append(text)
    return out


def _tool_result_text(block):
    c = block.get("content")
    if isinstance(c, str):
        return c
    return "".join(b.get("text", "") for b in _blocks(c) if b.get("type") == "text")


def analyse(body):
    """(user turns, last user text, tool result text or None) of a Messages request body."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    turns = sum(1 for m in users if _real_texts(m))
    text = ""
    for m in reversed(users):
        texts = _real_texts(m)
        if texts:
            text = texts[-1]
            break
    tool_result = None
    if users:
        results = [b for b in _blocks(users[-1].get("content")) if b.get("type") == "tool_result"]
        if results and not _real_texts(users[-1]):
            tool_result = " | ".join(_tool_result_text(r) for r in results)
    return turns, text, tool_result


def _words(text):
    """Split into deltas that concatenate back to text: each word with the whitespace before it."""
    parts = re.findall(r"\s*\S+", text)
    tail = text[len("".join(parts)):]
    if tail:
        parts.append(tail)
    return parts or [""]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client killed mid-reply (a test's time limit) is expected, not worth a traceback.
        import sys
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "anthropic-stub/1"

    def log_message(self, fmt, *args):
        if self.server.stub.log:
            sys.stderr.write("anthropic-stub: " + (fmt % args) + "\n")

    # --- plumbing -----------------------------------------------------------------------------------------
    def _read_body(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        try:
            return raw, (json.loads(raw) if raw else None)
        except ValueError:
            return raw, None

    def _record(self, body_raw, body):
        rec = {"time": time.time(), "method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
               "raw_size": len(body_raw)}
        self.server.stub._add(rec)
        if self.server.stub.log:
            sys.stderr.write(f"anthropic-stub: {self.command} {self.path} "
                             f"{len(body_raw)} bytes UA={self.headers.get('user-agent')}\n")
        return rec

    def _send_json(self, status, obj, extra_headers=()):
        data = json.dumps(obj).encode()
        if urlsplit(self.path).path == "/v1/messages":
            self.server.stub._add_status(status)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_stub_" + uuid.uuid4().hex[:20])
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status, message, retry=False, extra_headers=()):
        self._send_json(status, {"type": "error", "error": {
            "type": ERROR_TYPES.get(status, "api_error"), "message": message}},
            extra_headers=list(extra_headers) + ([] if retry else [("x-should-retry", "false")]))

    def _session_headers(self, body):
        """A ksid facade's X-Session-Id, when the stub plays one."""
        stub = self.server.stub
        if stub.session_id is None:
            return []
        sid = self.headers.get("x-session-id") or (body.get("session_id") if isinstance(
            body.get("session_id"), str) else None) or stub.session_id
        return [("X-Session-Id", sid)]

    def _reset(self):
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, name, obj):
        self._chunk(f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode())

    # --- methods ------------------------------------------------------------------------------------------
    def do_GET(self):
        raw, body = self._read_body()
        self._record(raw, body)
        self._error(404, f"stub: no route for {self.command} {urlsplit(self.path).path}")

    do_HEAD = do_DELETE = do_PUT = do_PATCH = do_GET

    def do_POST(self):
        raw, body = self._read_body()
        self._record(raw, body)
        path = urlsplit(self.path).path
        if path == "/v1/messages/count_tokens":
            n = max(1, len(json.dumps((body or {}).get("messages") or [])) // 4)
            return self._send_json(200, {"input_tokens": n})
        if path != "/v1/messages":
            return self._error(404, f"stub: no route for POST {path}")
        if not isinstance(body, dict):
            return self._error(400, "stub: body is not a JSON object")
        self._messages(body)

    def _messages(self, body):
        stub = self.server.stub
        turns, text, tool_result = analyse(body)
        m = re.search(r"STUB_SLOW:(\d+(?:\.\d+)?)", text)
        if m and tool_result is None:
            if stub._stopping.wait(float(m.group(1))):
                return self._error(503, "stub: stopping")
        m = re.search(r"STUB_ERROR:(\d{3})(:retry)?", text)
        if m and tool_result is None:
            return self._error(int(m.group(1)), f"stub: error {m.group(1)} requested by the prompt",
                               retry=bool(m.group(2)))
        m = re.search(r"STUB_FLAKY:(\d{3}):(\d+)", text)
        if m and tool_result is None and stub._count_flaky(text) <= int(m.group(2)):
            status = int(m.group(1))
            extra = [("retry-after", "1")] if "STUB_RETRY_AFTER" in text and status in (429, 529) else []
            return self._error(status, f"stub: flaky {status}", retry=True, extra_headers=extra)
        reset = "STUB_RESET" in text and tool_result is None

        model = body.get("model") or "claude-stub"
        msg_id = "msg_" + uuid.uuid4().hex[:20]
        m = re.search(r"STUB_TOOL:([^\n]+)", text)
        # A conversation replayed as text (ksid's fallback when the process that awaited a client's tool
        # results is gone) already holds the results: it is echoed, not asked again.
        replayed = "Tool result for call " in text
        use = not replayed and re.search(r"STUB_TOOL_USE:(\w+) (\{[^\n]*\})", text)
        uses = not replayed and re.search(r"STUB_TOOL_USES:(\[[^\n]*\])", text)
        stub._add_offered_tools([t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)])

        def tool_use(name, tool_input):
            return {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": name, "input": tool_input}
        if tool_result is not None:
            blocks = [{"type": "text", "text": f"TOOL_RESULT[{turns}]: {tool_result}"}]
        elif uses:
            blocks = [tool_use(u["name"], u["input"]) for u in json.loads(uses.group(1))]
        elif use:
            blocks = [tool_use(use.group(1), json.loads(use.group(2)))]
        elif m:
            blocks = [tool_use("Bash", {"command": m.group(1).strip(), "description": "Run the stub's command"})]
        else:
            blocks = [{"type": "text", "text": f"ECHO[{turns}]: {text}"}]
        stop_reason = "tool_use" if blocks[0]["type"] == "tool_use" else "end_turn"
        input_tokens = max(1, sum(len(t.split()) for mm in body.get("messages") or []
                                  if isinstance(mm, dict) for t in _real_texts(mm)))
        deltas = [_words(b["text"]) if b["type"] == "text" else [json.dumps(b["input"])] for b in blocks]
        usage = {"input_tokens": input_tokens, "output_tokens": sum(len(d) for d in deltas),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

        if not body.get("stream"):
            if reset:
                stub._add_status(200)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "1000")
                self.end_headers()
                self.wfile.write(b'{"id": "msg_reset", "typ')
                return self._reset()
            return self._send_json(200, {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": blocks,
                "stop_reason": stop_reason, "stop_sequence": None, "usage": usage},
                extra_headers=self._session_headers(body))

        stub._add_status(200)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", "req_stub_" + uuid.uuid4().hex[:20])
        for k, v in self._session_headers(body):
            self.send_header(k, v)
        self.end_headers()
        try:
            self._event("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})
            self._event("ping", {"type": "ping"})
            for index, (block, block_deltas) in enumerate(zip(blocks, deltas)):
                start = dict(block, **({"text": ""} if block["type"] == "text" else {"input": {}}))
                self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": start})
                for d in block_deltas:
                    delta = ({"type": "text_delta", "text": d} if block["type"] == "text"
                             else {"type": "input_json_delta", "partial_json": d})
                    self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": delta})
                    if reset:
                        return self._reset()
                    if stub.delta_delay:
                        time.sleep(stub.delta_delay)
                self._event("content_block_stop", {"type": "content_block_stop", "index": index})
            self._event("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                          "usage": {"output_tokens": usage["output_tokens"]}})
            self._event("message_stop", {"type": "message_stop"})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class AnthropicStub:
    """The stub server on 127.0.0.1; `requests` records every request (dicts: method, path, headers, body)."""

    def __init__(self, port=0, host="127.0.0.1", log=False, delta_delay=0.0, session_id=None, tls=None):
        self.host, self.port, self.log, self.delta_delay = host, port, log, delta_delay
        self.session_id, self.tls = session_id, tls
        self._lock = threading.Lock()
        self._requests = []
        self._offered = []
        self._statuses = []
        self._flaky = {}
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    def start(self):
        self._server = _Server((self.host, self.port), _Handler)
        self._server.stub = self
        if self.tls:  # (cert, key)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="anthropic-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def _add(self, rec):
        with self._lock:
            self._requests.append(rec)

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def message_requests(self):
        """Bodies of the POST /v1/messages requests so far."""
        return [r["body"] for r in self.requests
                if r["method"] == "POST" and urlsplit(r["path"]).path == "/v1/messages"]

    def clear(self):
        with self._lock:
            self._requests.clear()
            self._offered.clear()
            self._statuses.clear()
            self._flaky.clear()

    def _add_status(self, status):
        with self._lock:
            self._statuses.append(status)

    @property
    def statuses(self):
        """The status of each /v1/messages answer, in order."""
        with self._lock:
            return list(self._statuses)

    def _count_flaky(self, text):
        with self._lock:
            self._flaky[text] = self._flaky.get(text, 0) + 1
            return self._flaky[text]

    def _add_offered_tools(self, names):
        with self._lock:
            self._offered.append(names)

    @property
    def offered_tools(self):
        """The tool names each /v1/messages request offered the model, in order."""
        with self._lock:
            return list(self._offered)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--log", action="store_true", help="log each request to stderr")
    p.add_argument("--delta-delay", type=float, default=0.0, help="seconds between text deltas")
    a = p.parse_args(argv)
    stub = AnthropicStub(port=a.port, host=a.host, log=a.log, delta_delay=a.delta_delay).start()
    print(stub.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
