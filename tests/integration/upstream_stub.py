"""A scriptable OpenAI-compatible upstream for the API shim's fault tests: each POST takes the next action
from a queue (a whole JSON response, an SSE stream, a reset mid-body, a slow answer, raw bytes), records
what it received, and can serve TLS with a given certificate. Standard library only."""
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSION = "0b8e0e38-3b52-4bbc-8e3f-8d1c8f6a0c11"


def completion(text="upstream answer", finish="stop"):
    return {"id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "gpt-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}


def make_certificate(directory, name, hosts):
    """A self-signed certificate for `hosts` (DNS names or IPs); returns (cert path, key path)."""
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    san = ",".join(("IP:" if h[0].isdigit() else "DNS:") + h for h in hosts)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=" + hosts[0], "-addext", "subjectAltName=" + san],
                   check=True, capture_output=True)
    return cert, key


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        stub = self.server.stub
        with stub.lock:
            stub.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body": body})
            action = stub.actions.pop(0) if stub.actions else stub.default
        kind = action[0]
        if kind == "json":
            _, status, obj, headers = (action + ({},))[:4]
            self._send(status, json.dumps(obj).encode(), "application/json", headers)
        elif kind == "raw":
            self._send(action[1], action[2], "application/json", {})
        elif kind == "flood":  # action[1]: raw head; then action[2] filler bytes, 64 KiB at a time, raw
            try:
                self.wfile.write(action[1])
                for _ in range(action[2] // 65536):
                    self.wfile.write(b"a" * 65536)
                self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True
        elif kind == "slow":
            time.sleep(action[1])
            self._send(200, json.dumps(completion("slow answer")).encode(), "application/json", {})
        elif kind == "reset":  # the headers and part of the body, then a TCP reset
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"id": "chatcmpl-up", "choi')
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif kind == "sse":  # action[1]: list of data strings; action[2]: delay between them
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("X-Session-Id", SESSION)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for data in action[1]:
                payload = ("data: " + data + "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
                self.wfile.flush()
                time.sleep(action[2] if len(action) > 2 else 0)
            self.wfile.write(b"0\r\n\r\n")
        else:
            raise AssertionError("unknown action " + repr(action))

    def _send(self, status, data, content_type, headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == 200 and "X-Session-Id" not in headers:
            self.send_header("X-Session-Id", SESSION)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


class UpstreamStub:
    def __init__(self, tls=None):
        self.actions = []
        self.default = ("json", 200, completion())
        self.requests = []
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.stub = self
        if tls:  # (cert, key)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def base_url(self, scheme="http", host="127.0.0.1"):
        return f"{scheme}://{host}:{self.port}/v1"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def script(self, *actions):
        with self.lock:
            self.actions = list(actions)
            self.requests = []
