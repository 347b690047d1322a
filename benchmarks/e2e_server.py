"""A deliberately dumb, fast SSE server for the end-to-end benchmark, run in its own process.

It answers every request with one pre-built chunked event stream, written with
``sendall`` in 256 KiB pieces, so the client under test is the bottleneck, not the
server. Run: ``python -m benchmarks.e2e_server PORT_FILE``; it writes its port there.
"""

from __future__ import annotations

import socket
import socketserver
import sys
from typing import ClassVar

SMALL_EVENT = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
LARGE_EVENT = b"data: " + b"x" * 65536 + b"\n\n"
WRITE_SIZE = 256 * 1024
HTTP_CHUNK = 64 * 1024


def stream_body(event: bytes, count: int) -> bytes:
    """``count`` events, chunked-encoded in HTTP_CHUNK pieces, with the final 0-chunk."""
    raw = event * count
    out = bytearray()
    for i in range(0, len(raw), HTTP_CHUNK):
        piece = raw[i : i + HTTP_CHUNK]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n"
)


def workloads() -> dict[bytes, tuple[bytes, int]]:
    """Request target -> (response bytes, number of events)."""
    return {
        b"/small": (HEAD + stream_body(SMALL_EVENT, 100_000), 100_000),
        b"/small-quick": (HEAD + stream_body(SMALL_EVENT, 10_000), 10_000),
        b"/large": (HEAD + stream_body(LARGE_EVENT, 1_000), 1_000),
        b"/large-quick": (HEAD + stream_body(LARGE_EVENT, 100), 100),
    }


class _Handler(socketserver.BaseRequestHandler):
    responses: ClassVar[dict[bytes, tuple[bytes, int]]] = {}

    def handle(self) -> None:
        sock: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                return
            head += data
        target = head.split(b" ", 2)[1]
        body, _ = self.responses.get(target, (b"HTTP/1.1 404 Not Found\r\n\r\n", 0))
        view = memoryview(body)
        try:
            for i in range(0, len(view), WRITE_SIZE):
                sock.sendall(view[i : i + WRITE_SIZE])
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the client went away early; nothing to do


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(port_file: str) -> None:
    _Handler.responses = workloads()
    with _Server(("127.0.0.1", 0), _Handler) as server:
        with open(port_file, "w") as f:
            f.write(str(server.server_address[1]))
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
