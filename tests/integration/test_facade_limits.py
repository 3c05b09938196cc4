"""The facade's transport limits (issue "Hardening", transport part), over raw sockets: request reading is
bounded before auth, request framing cannot smuggle a second request, HEAD answers carry no body, and a
client that stops reading is dropped (write timeout, bound on queued stream output)."""
import json
import select
import socket
import time
import unittest

from ksid_harness import SANITIZED, free_port, KsidTestCase, open_fds, rss_kib

CHAT_HEAD = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n")
SMUGGLED = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def read_until_closed(s, seconds):
    """What the server sends within `seconds`; (data, whether it closed the connection)."""
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def header_value(head, name):
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def stream_request(prompt):
    body = json.dumps({"model": "sonnet", "stream": True, "messages": [{"role": "user", "content": prompt}]}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


# An answer whose SSE stream (about 190 bytes per word) is far larger than the socket buffers.
LONG_PROMPT = "".join("word%05d " % i for i in range(60000))


class LimitsCase(KsidTestCase):
    facade_env = {}

    def setUp(self):
        self.port = free_port()
        self.ksid_env = dict({"KSID_FACADE_ENABLED": "true", "KSID_FACADE_PORT": str(self.port)}, **self.facade_env)
        super().setUp()

    def connect(self, receive_buffer=None):
        s = socket.socket()
        if receive_buffer:  # set before connecting, so the window stays small
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        s.settimeout(10)
        s.connect(("127.0.0.1", self.port))
        return s

    def health_status(self):
        with self.connect() as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, _ = read_until_closed(s, 10)
        return data[:12]

    def wait_for_fds(self, at_most, seconds):
        deadline = time.monotonic() + seconds
        while open_fds(self.ksid.proc.pid) > at_most and time.monotonic() < deadline:
            time.sleep(0.1)
        return open_fds(self.ksid.proc.pid)


class BoundedRequestReading(LimitsCase):
    def send_without_end(self, start, filler, limit=32 << 20):
        """A chunked chat request whose body is `start`, then `filler` without end (up to `limit` bytes), sent
        until ksid answers; (answer, closed, bytes sent)."""
        s = self.connect()
        s.sendall(CHAT_HEAD + start)
        block = filler * (65536 // len(filler))
        sent = 0
        while sent < limit:
            readable, writable, _ = select.select([s], [s], [], 5)
            if readable or not writable:
                break
            try:
                sent += s.send(block)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer, closed = read_until_closed(s, 10)
        s.close()
        return answer, closed, sent

    def test_a_chunk_line_or_trailer_without_end_is_refused_without_growing_memory(self):
        for name, start, filler in (("chunk-size line", b"", b"0"), ("chunk extension", b"1;ext=", b"a"),
                                    ("trailer", b"0\r\nX-Trailer: ", b"a")):
            before = rss_kib(self.ksid.proc.pid)
            answer, closed, sent = self.send_without_end(start, filler)
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), (name, answer[:200]))
            self.assertEqual(header_value(answer.split(b"\r\n\r\n")[0], b"connection"), b"close", name)
            self.assertTrue(closed, name)
            self.assertLess(sent, 32 << 20, name + ": ksid kept reading")
            self.assertLess(rss_kib(self.ksid.proc.pid) - before, 16 * 1024, name)
        self.assertEqual(self.health_status(), b"HTTP/1.1 200")


class Framing(LimitsCase):
    def test_a_transfer_encoding_other_than_chunked_is_refused_and_what_follows_is_never_parsed(self):
        for coding in (b"gzip", b"chunked, gzip", b"xchunked", b"gzip, chunked", b"identity",
                       b"chunked\r\nTransfer-Encoding: gzip"):
            with self.connect() as s:
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: " + coding + b"\r\n\r\n" + SMUGGLED)
                data, closed = read_until_closed(s, 5)
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), (coding, data[:200]))
            self.assertEqual(data.count(b"HTTP/1.1 "), 1, (coding, data))  # the smuggled GET got no answer
            self.assertTrue(closed, coding)

    def test_a_refusal_before_the_body_closes_the_connection(self):
        # Content-Length over facade.max_body_bytes: 413 before the body; the "body" is never parsed.
        with self.connect() as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n" + SMUGGLED)
            data, closed = read_until_closed(s, 5)
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)
        self.assertTrue(closed)

    def test_head_answers_have_the_get_content_length_and_no_body(self):
        with self.connect() as s:
            s.sendall(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, closed = read_until_closed(s, 10)
        self.assertTrue(closed)
        head, rest = data.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), data)
        self.assertTrue(rest.startswith(b"HTTP/1.1 404"), data)  # no body bytes in between
        not_found, rest = rest.split(b"\r\n\r\n", 1)
        self.assertGreater(int(header_value(not_found, b"content-length")), 0)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200"), data)
        get_head, body = rest.split(b"\r\n\r\n", 1)
        self.assertEqual(json.loads(body)["status"], "ok")
        self.assertEqual(int(header_value(head, b"content-length")), len(body))
        self.assertEqual(int(header_value(get_head, b"content-length")), len(body))


class AuthBeforeBody(LimitsCase):
    facade_env = {"KSID_API_KEYS": "the-secret-key"}

    def test_an_unauthenticated_request_is_refused_before_its_body_is_read(self):
        with self.connect() as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n{")
            data, closed = read_until_closed(s, 5)
        self.assertTrue(data.startswith(b"HTTP/1.1 401"), data[:200])
        self.assertTrue(closed)
        with self.connect() as s:  # with the key, the request goes on as before
            s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer the-secret-key\r\n"
                      b"Connection: close\r\n\r\n")
            data, _ = read_until_closed(s, 10)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])


class StalledStreams(LimitsCase):
    facade_env = {"KSID_FACADE_WRITE_TIMEOUT": "2"}

    def test_streaming_clients_that_stop_reading_are_dropped_after_the_write_timeout(self):
        self.assertEqual(self.health_status(), b"HTTP/1.1 200")
        fds = open_fds(self.ksid.proc.pid)
        before = rss_kib(self.ksid.proc.pid)
        clients = []
        for _ in range(8):
            s = self.connect(receive_buffer=4096)
            s.sendall(stream_request(LONG_PROMPT))
            clients.append(s)
        start = time.monotonic()
        self.assertLessEqual(self.wait_for_fds(fds, 60), fds, "stalled streams still open")
        self.assertGreater(time.monotonic() - start, 1.5)  # not before the timeout
        if not SANITIZED:
            self.assertLess(rss_kib(self.ksid.proc.pid) - before, 32 * 1024)
        for s in clients:
            data, closed = read_until_closed(s, 10)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
            self.assertFalse(b"data: [DONE]" in data, "a stalled stream was not cut off")
            self.assertTrue(closed)
            s.close()
        self.assertEqual(self.health_status(), b"HTTP/1.1 200")

    def test_a_slow_reader_that_keeps_reading_gets_the_whole_stream(self):
        with self.connect(receive_buffer=256 * 1024) as s:
            s.sendall(stream_request(LONG_PROMPT))
            start = time.monotonic()
            data = b""
            while not data.endswith(b"\r\n0\r\n\r\n"):  # the last chunk
                time.sleep(0.4)  # under the timeout between reads, over it in all
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            elapsed = time.monotonic() - start
        self.assertTrue(b"data: [DONE]" in data, "a slow reader's stream was cut off")
        self.assertGreater(elapsed, 3)


class QueuedStreamOutput(LimitsCase):
    # Writes never time out here: the client is dropped because its unsent output passed the bound.
    facade_env = {"KSID_FACADE_WRITE_TIMEOUT": "600", "KSID_MAX_OUTBOX_BYTES": "65536"}

    def test_a_stream_whose_unsent_output_passes_the_bound_is_dropped(self):
        self.assertEqual(self.health_status(), b"HTTP/1.1 200")
        fds = open_fds(self.ksid.proc.pid)
        s = self.connect(receive_buffer=4096)
        s.sendall(stream_request(LONG_PROMPT))
        self.assertLessEqual(self.wait_for_fds(fds, 20), fds, "a stalled stream is still open")
        data, closed = read_until_closed(s, 10)
        s.close()
        self.assertFalse(b"data: [DONE]" in data, "a stalled stream was not cut off")
        self.assertTrue(closed)


if __name__ == "__main__":
    unittest.main()
