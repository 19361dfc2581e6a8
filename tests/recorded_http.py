"""A real HTTP server on 127.0.0.1 serving recorded responses, for the source tests.

Each path gets a script of replies, played in order (the last one repeats);
a reply may also be a function of the request (for paging by query).  Every
request is logged with its query and headers, so tests can assert what was
asked, and what was not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).resolve().parent / "data"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    etag: str | None = None  # sent as ETag; a matching If-None-Match gets 304
    last_modified: str | None = None  # sent as Last-Modified; a matching If-Modified-Since gets 304
    drip: float | None = None  # seconds between the bytes of the body (a hostile slow server)
    drip_headers: bool = False  # drip the status line and headers too
    length: bool = True  # send Content-Length (False: the body ends when the connection closes)


def recorded(name: str, **kwargs) -> Reply:
    """A reply whose body is the recorded file ``tests/data/<name>``."""
    content_type = "application/json" if name.endswith(".json") else "application/atom+xml; charset=utf-8"
    headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
    return Reply(body=(DATA / name).read_bytes(), headers=headers, **kwargs)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict  # name -> first value
    headers: dict  # lower-case name -> value


class RecordedServer:
    def __init__(self) -> None:
        self.routes: dict[str, list] = {}
        self.requests: list[Request] = []
        self.statuses: list[int] = []  # what each request was answered, in order
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                request = Request(
                    "GET",
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                )
                reply = server._next(request)
                status, body, headers = reply.status, reply.body, dict(reply.headers)
                if reply.etag:
                    headers["ETag"] = reply.etag
                if reply.last_modified:
                    headers["Last-Modified"] = reply.last_modified
                if (reply.etag and request.headers.get("if-none-match") == reply.etag) or (
                    reply.last_modified and request.headers.get("if-modified-since") == reply.last_modified
                ):
                    status, body = 304, b""
                with server._lock:
                    server.statuses.append(status)
                if reply.drip_headers:
                    self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n" + b"X-Slow: y\r\n" * 1000, reply.drip)
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if reply.length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if reply.drip:
                    self._drip(body, reply.drip)
                else:
                    self.wfile.write(body)

            def _drip(self, data: bytes, pause: float | None) -> None:
                """One byte at a time until the client gives up or the server stops."""
                self.wfile.flush()
                for i in range(len(data)):
                    if server.stopping.wait(pause or 0.5):
                        return
                    try:
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *replies: Reply | Callable[[Request], Reply]) -> None:
        """Serve ``replies`` in order at ``path`` (the last one from then on)."""
        self.routes[path] = list(replies)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            script = self.routes.get(request.path)
            if not script:
                return Reply(404, b"not found", {"Content-Type": "text/plain"})
            reply = script.pop(0) if len(script) > 1 else script[0]
        return reply(request) if callable(reply) else reply

    def __enter__(self) -> RecordedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
