"""The edge of the server, where clients meet it: one access-log line and one count per
request, any exception turned into a one-line JSON 500, and connections that cannot be
held forever (uvicorn's own limits, plus a timeout for a request's headers).
"""

import asyncio
import json
import logging
import time

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional: uvicorn then uses h11
    HttpToolsProtocol = None

access_log = logging.getLogger("serving.access")
log = logging.getLogger("serving")

# What a response's scope carries for the counts: set by the model endpoint.
LABELS = "serving.labels"


def json_body(status: int, message: str) -> tuple[dict, bytes]:
    """An ASGI response start and body for {"error": message} (ASCII-escaped, so no
    client-sent character can fail the encoding)."""
    body = json.dumps({"error": message}).encode("ascii")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": status, "headers": headers}, body


class EdgeMiddleware:
    """Counts and logs every HTTP request (method, path, status, ms) and answers any
    exception that escapes the application with a one-line JSON 500."""

    def __init__(self, app, count):
        self.app = app
        self.count = count  # count(model, signature, status)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, state = time.perf_counter(), {"status": 0}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as problem:  # the last net: a client must never see a traceback
            log.error("%s %s failed: %s: %s", scope["method"], scope["path"], type(problem).__name__, problem)
            if not state["status"]:
                start, body = json_body(500, f"internal error ({type(problem).__name__}); the server keeps running")
                await send_and_note(start)
                await send({"type": "http.response.body", "body": body})
        finally:
            self.finish(scope, state["status"] or 499, started)

    def finish(self, scope, status: int, started: float) -> None:
        model, signature = scope.get(LABELS, ("", ""))
        self.count(model, signature, status)
        milliseconds = (time.perf_counter() - started) * 1000
        access_log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, milliseconds)


class HeaderTimeout:
    """Mixed into uvicorn's HTTP protocol: closes a connection whose first request's
    headers have not all arrived within `header_timeout` seconds (uvicorn times out only
    idle keep-alive connections, so a client that never finishes its headers would be
    held forever)."""

    header_timeout = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.header_timer = asyncio.get_running_loop().call_later(self.header_timeout, self.headers_too_slow)

    def headers_too_slow(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            log.info("closed a connection that sent no complete request headers in %.0f s", self.header_timeout)
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.header_timer.cancel()
        super().connection_lost(exc)


def uvicorn_config(app, host: str, port: int, settings, **options) -> uvicorn.Config:
    """uvicorn's settings for `app`: keep-alive and header timeouts, a cap on open
    connections and requests (`limit_concurrency`: answered 503 beyond it) and on an
    incomplete request's size."""
    base = HttpToolsProtocol if HttpToolsProtocol else H11Protocol  # uvicorn's own choice for "auto"
    protocol = type("Protocol", (HeaderTimeout, base), {"header_timeout": settings.header_timeout_seconds})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=5,
        limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=64 * 1024,  # request line and headers
        access_log=False,  # EdgeMiddleware writes one line per request, with its time
        **options,
    )
