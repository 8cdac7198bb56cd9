"""A small threaded HTTP/1.1 reverse proxy that counts and faults requests.

One instance sits in front of each emulator. It keeps client connections
alive, keeps one upstream connection per client connection, streams request
and response bodies, and serves the control API under ``/_testbed/``.
Faulted requests are answered here and never reach the emulator.
"""

from __future__ import annotations

import http.client
import json
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import CONTROL_PREFIX, PROTOCOL, gcs_compat
from .classify import CLASSIFIERS, Operation, parse_query
from .errors import error_response
from .etags import CONDITIONAL_HEADERS, EtagMasker, object_name
from .state import ControlState, Decision

CHUNK = 256 * 1024
REPLAYABLE_BODY = 1024 * 1024  # bodies up to this size are buffered, so a stale connection can be retried
UPSTREAM_TIMEOUT = 300.0

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, service: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), ProxyHandler)
        self.service = service
        self.protocol = PROTOCOL[service]
        self.classify = CLASSIFIERS[self.protocol]
        self.state = ControlState()
        self.masker = EtagMasker()
        self.upstream: tuple[str, int] | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that drop their connection (tests that kill a run midway)
        are expected here; anything else is still reported."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class ClientGone(Exception):
    """The client closed its connection mid-request."""


class UpstreamError(Exception):
    """The emulator could not be reached or broke the connection."""


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on,
    # the body waits for the client's delayed ACK (40 ms on Linux) and every
    # sequential request with a response body pays it.
    disable_nagle_algorithm = True
    server: ProxyServer
    _upstream_conn: http.client.HTTPConnection | None = None
    _pending: tuple[dict[str, Any], _BodyReader] | None = None  # log entry of the request in progress
    _status = 0  # status of the last response line sent

    # BaseHTTPRequestHandler dispatches on do_<METHOD>.
    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def handle_expect_100(self) -> bool:
        return True  # answered in _forward, only once the request is let through

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream_conn is not None:
                self._upstream_conn.close()

    # -- dispatch --------------------------------------------------------------
    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        if split.path == CONTROL_PREFIX or split.path.startswith(CONTROL_PREFIX + "/"):
            self._control(split.path[len(CONTROL_PREFIX) :].strip("/"))
            return
        headers = {name: value for name, value in self.headers.items()}
        operation = self.server.classify(self.command, split.path, parse_query(split.query), headers)
        decision = self.server.state.admit(
            self.command, split.path, split.query, operation.op, operation.write
        )
        body = _BodyReader(self)
        self._pending = (decision.entry, body)
        try:
            if decision.latency_s:
                time.sleep(decision.latency_s)
            if decision.fault is not None:
                self._reject(decision.status, decision.fault, body, decision.error)
            elif self.server.upstream is None:
                self._drain(body)
                self._plain(502, b"upstream not started\n")
            else:
                self._forward(split.path, split.query, operation, decision, body)
        except UpstreamError as exc:
            self.close_connection = True
            try:
                self._plain(502, f"testbed: upstream failed: {exc!r}\n".encode())
            except OSError:
                pass
        except (ClientGone, OSError, http.client.HTTPException):
            self.close_connection = True
        finally:
            self._record(499)  # no response was sent: the client went away

    def send_response_only(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response_only(code, message)

    def end_headers(self) -> None:
        # Log the status before the client can see the response, so that a test
        # reading the log right after its request finds the request complete.
        if self._status >= 200:
            self._record(self._status)
        super().end_headers()

    def _record(self, status: int) -> None:
        if self._pending is not None:
            entry, body = self._pending
            self._pending = None
            self.server.state.finish(entry, status, body.received)

    # -- control API -----------------------------------------------------------
    def _control(self, action: str) -> None:
        state = self.server.state
        payload: Any
        try:
            if action == "requests" and self.command == "GET":
                payload = state.requests()
            elif action == "reset" and self.command == "POST":
                self._read_json()
                state.reset()
                payload = {"ok": True}
            elif action == "faults" and self.command == "POST":
                payload = state.set_faults(self._read_json())
            elif action == "faults" and self.command == "GET":
                payload = state.faults()
            elif action == "health" and self.command == "GET":
                payload = {"ok": self.server.upstream is not None, "service": self.server.service}
            else:
                self._json(404, {"error": f"no control action {self.command} /{action}"})
                return
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, payload)

    def _read_json(self) -> dict[str, Any]:
        raw = b"".join(_BodyReader(self).chunks())
        if not raw.strip():
            return {}
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _plain(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- faults ----------------------------------------------------------------
    def _reject(self, status: int, fault: str, body: _BodyReader,
                error: tuple[str, str] = ("", "")) -> None:
        if body.expects_continue:
            self.close_connection = True  # the body was never asked for
        else:
            self._drain(body)
        headers, data = error_response(self.server.protocol, status, fault, *error)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drain(self, body: _BodyReader) -> None:
        for _ in body.chunks():
            pass

    # -- forwarding ------------------------------------------------------------
    def _forward(self, path: str, query: str, operation: Operation, decision: Decision, body: _BodyReader) -> None:
        masking = decision.opaque_etags and self.server.protocol == "s3"
        target = self.path
        xml_put = None
        if self.server.protocol == "gcs" and not decision.plain_gcs:
            xml_put = gcs_compat.xml_put_target(self.command, path, query, self.path)
            target = xml_put or target
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if masking:
            headers = [
                (k, self.server.masker.unmask_text(v) if k.lower() in CONDITIONAL_HEADERS else v)
                for k, v in headers
            ]
        if body.expects_continue:
            self.send_response_only(100)
            self.end_headers()
            self.wfile.flush()
        payload: bytes | None = None
        if not body.present:
            payload = b""
        elif body.length is not None and body.length <= REPLAYABLE_BODY:
            payload = b"".join(body.chunks())
            if masking and operation.op == "CompleteMultipartUpload":
                payload = self.server.masker.unmask_xml(payload)
        response = self._send_upstream(target, headers, payload, body)
        try:
            edit: _Edit | None = None
            if response.status < 300 and masking:
                edit = self._etag_edit(path, operation, response)
            elif response.status < 300 and xml_put:
                edit = _Edit(body=lambda data: (data, gcs_compat.object_headers(data)))
            self._relay(response, edit)
        finally:
            response.close()

    def _etag_edit(self, path: str, operation: Operation, response: http.client.HTTPResponse) -> _Edit:
        masker = self.server.masker
        name = object_name(path)

        def headers(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
            return [(k, masker.mask_text(v, name) if k.lower() == "etag" else v) for k, v in items]

        def body(data: bytes) -> tuple[bytes, list[tuple[str, str]]]:
            bucket, _, key = path.strip("/").partition("/")
            if not key:  # bucket level: ListObjects(V2), ListObjectVersions
                return masker.mask_listing(data, bucket), []
            return masker.mask_xml(data, name), []

        xml = "xml" in (response.getheader("Content-Type") or "").lower()
        return _Edit(headers=headers, body=body if xml and operation.op != "GetObject" else None)

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        conn = self._upstream_conn
        if conn is not None and (fresh or _is_stale(conn)):
            conn.close()
            conn = None
        if conn is None:
            assert self.server.upstream is not None
            host, port = self.server.upstream
            conn = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
            self._upstream_conn = conn
        return conn

    def _send_upstream(
        self, target: str, headers: list[tuple[str, str]], payload: bytes | None, body: _BodyReader
    ) -> http.client.HTTPResponse:
        attempts = 2 if payload is not None else 1
        for attempt in range(attempts):
            conn = self._connection(fresh=attempt > 0)
            try:
                conn.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                if payload is not None:
                    if payload or self.command in ("PUT", "POST", "PATCH"):
                        conn.putheader("Content-Length", str(len(payload)))
                    conn.endheaders(payload or None)
                elif body.length is not None:
                    conn.putheader("Content-Length", str(body.length))
                    conn.endheaders()
                    for chunk in body.chunks():
                        conn.send(chunk)
                else:
                    conn.putheader("Transfer-Encoding", "chunked")
                    conn.endheaders()
                    for chunk in body.chunks():
                        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    conn.send(b"0\r\n\r\n")
                return conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._upstream_conn = None
                if attempt == attempts - 1:
                    raise UpstreamError(exc) from exc
        raise AssertionError("unreachable")

    def _relay(self, response: http.client.HTTPResponse, edit: _Edit | None) -> None:
        status = response.status
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        if edit is not None and edit.headers is not None:
            headers = edit.headers(headers)
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        if response.will_close:
            self._upstream_conn = None  # http.client closes it once the body is read
        data: bytes | None = None
        if edit is not None and edit.body is not None and not no_body:
            data, extra = edit.body(response.read())
            headers = [h for h in headers if h[0].lower() not in {k.lower() for k, _ in extra}] + extra
        self.send_response_only(status, response.reason)  # the emulator's own Date/Server are kept
        for name, value in headers:
            self.send_header(name, value)
        if no_body:
            length = response.getheader("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
        elif data is not None:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif response.length is not None:
            self.send_header("Content-Length", str(response.length))
            self.end_headers()
            for chunk in _read_chunks(response):
                self.wfile.write(chunk)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in _read_chunks(response):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")


@dataclass
class _Edit:
    """Changes to an upstream response: its headers, and its (buffered) body."""

    headers: Callable[[list[tuple[str, str]]], list[tuple[str, str]]] | None = None
    body: Callable[[bytes], tuple[bytes, list[tuple[str, str]]]] | None = None


class _BodyReader:
    """The request body, read from the client once, in chunks."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._rfile = handler.rfile
        headers = handler.headers
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        raw_length = headers.get("Content-Length")
        self.length: int | None = None if self.chunked or raw_length is None else int(raw_length)
        self.present = self.chunked or bool(self.length)
        self.expects_continue = self.present and headers.get("Expect", "").lower() == "100-continue"
        self.received = 0
        self._consumed = False

    def chunks(self) -> Iterator[bytes]:
        if self._consumed or not self.present:
            return
        self._consumed = True
        if self.chunked:
            yield from self._chunked()
            return
        remaining = self.length or 0
        while remaining:
            data = self._rfile.read(min(CHUNK, remaining))
            if not data:
                raise ClientGone()
            remaining -= len(data)
            self.received += len(data)
            yield data

    def _chunked(self) -> Iterator[bytes]:
        while True:
            line = self._rfile.readline(65537)
            if not line:
                raise ClientGone()
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            data = self._rfile.read(size)
            if len(data) < size:
                raise ClientGone()
            self._rfile.readline(3)
            self.received += size
            yield data


def _read_chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        data = response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK)
        if not data:
            return
        yield data


def _is_stale(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket that is readable has been closed by the peer."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
