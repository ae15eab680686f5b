"""A fault-injecting reverse proxy in front of an S3 endpoint (the moto server), on 127.0.0.1.

Each request is forwarded unless a rule picks it for a fault:

* `error`: a 503 SlowDown answer, before the request reaches S3 (botocore retries it);
* `drop`: the connection is closed without an answer, before the request reaches S3;
* `slow`: the answer comes after a delay;
* `lose`: the request reaches S3 and succeeds, but its answer is lost (the client retries a
  write that already happened: a conditional PUT then meets its own object).

Rules match the method, the key (path) and, for writes, the body; `rate` draws from a
seeded generator so a failing run can be replayed.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "date", "server"}  # set by this server
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


@dataclass
class Rule:
    fault: str  # error, drop, slow, lose
    rate: float = 1.0  # share of matching requests that get the fault
    methods: tuple[str, ...] = ("GET", "PUT", "POST", "DELETE", "HEAD")
    path: Callable[[str], bool] = lambda path: True
    body: Callable[[bytes], bool] = lambda body: True
    times: int | None = None  # at most this many faults, then the rule is spent


@dataclass
class Faults:
    rules: list[Rule] = field(default_factory=list)
    seed: int = 7
    delay: float = 1.0  # for `slow`
    injected: Counter = field(default_factory=Counter)
    forwarded: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def pick(self, method: str, path: str, body: bytes) -> str | None:
        with self._lock:
            for rule in self.rules:
                if method not in rule.methods or not rule.path(path) or not rule.body(body):
                    continue
                if rule.times is not None and rule.times <= 0:
                    continue
                if self._random.random() < rule.rate:
                    if rule.times is not None:
                        rule.times -= 1
                    self.injected[rule.fault] += 1
                    return rule.fault
            self.forwarded += 1
            return None


def _handler(upstream: str, faults: Faults) -> type[BaseHTTPRequestHandler]:
    target = urlparse(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
            headers["Host"] = target.netloc
            connection.request(self.command, self.path, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            return answer.status, answer.getheaders(), data

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_HEADERS:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = faults.pick(self.command, urlparse(self.path).path, body)
            if fault == "error":
                self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
                return
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "slow":
                time.sleep(faults.delay)
            answer = self._forward(body)
            if fault == "lose":
                self.close_connection = True
                self.connection.close()
                return
            self._answer(*answer)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler


@contextmanager
def fault_proxy(upstream: str, faults: Faults) -> Iterator[str]:
    """A proxy to `upstream` on 127.0.0.1 (a free port) that injects `faults`; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, faults))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
