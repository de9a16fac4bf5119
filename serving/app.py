"""The HTTP application: TensorFlow Serving's REST API over the `ModelStore`, plus
`/healthz`, `/metrics` (Prometheus), `/api/models` (for the page) and the page at `/`.

Model calls run in a thread pool, off the event loop. A bad request is a 4xx with a
one-line `{"error": ...}` and never reaches TensorFlow.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import re
import time
from pathlib import Path

import tensorflow as tf
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from serving import rest
from serving.batching import Batcher, run_signature
from serving.models import ModelStore, NotFound

PAGE = Path(__file__).with_name("page.html")
MODEL_PATH = re.compile(
    r"^(?P<name>[A-Za-z0-9_.\-]+)"
    r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[A-Za-z0-9_.\-]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?$"
)


@dataclasses.dataclass
class ServerSettings:
    """Limits and batching; every field is a `make serve` option."""

    batching: bool = True
    max_batch_size: int = 32  # rows merged into one model call
    batch_wait_ms: float = 0.0  # extra wait for more requests after a batch's first (0: none)
    max_rows: int = 256  # rows in one request
    max_body_bytes: int = 1 << 20  # 1 MiB
    max_string_length: int = 10_000  # characters in one input string
    threads: int = 4  # model calls in parallel
    batch_threads: int = 2  # batches of one signature computed at once (with batching)


class TooLarge(ValueError):
    """A request body over the size limit (HTTP 413)."""


class Metrics:
    """Request counts, latencies and batch sizes in Prometheus's text format."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "serving_requests", "Requests by model and status code", ["model", "code"], registry=self.registry
        )
        self.latency = Histogram("serving_request_seconds", "Predict latency", ["model"], registry=self.registry)
        buckets = (1, 2, 4, 8, 16, 32, 64, 128, 256)
        self.batch_rows = Histogram(
            "serving_batch_rows", "Rows per model call", ["model", "signature"], buckets=buckets, registry=self.registry
        )


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_json(request: Request, limit: int):
    """The request body as JSON; over `limit` bytes is `TooLarge`, bad JSON `BadRequest`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body of {declared} bytes; at most {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"request body over {limit} bytes")
    return rest.parse_json(bytes(body))


def one_line(problem: Exception) -> str:
    text = str(problem).strip().splitlines()
    return text[0] if text else type(problem).__name__


def create_app(store: ModelStore, settings: ServerSettings | None = None) -> Starlette:
    """The Starlette application serving `store` (polled while the app runs)."""
    settings = settings or ServerSettings()
    metrics = Metrics()
    executor = concurrent.futures.ThreadPoolExecutor(settings.threads, thread_name_prefix="model")
    batchers: dict[tuple, Batcher] = {}

    def batcher_for(loaded, signature_name, signature) -> Batcher:
        key = (loaded.model, loaded.version, id(loaded), signature_name)
        if key not in batchers:
            observe = metrics.batch_rows.labels(loaded.model, signature_name).observe
            batchers[key] = Batcher(
                signature,
                executor,
                settings.max_batch_size,
                settings.batch_wait_ms / 1000,
                observe,
                settings.batch_threads,
            )
        return batchers[key]

    async def call(loaded, signature_name, signature, arrays, rows):
        if settings.batching and signature.batchable:
            return await batcher_for(loaded, signature_name, signature).call(arrays, rows)
        metrics.batch_rows.labels(loaded.model, signature_name).observe(rows)
        return await asyncio.get_running_loop().run_in_executor(executor, run_signature, signature, arrays)

    async def predict(request: Request, loaded) -> JSONResponse:
        body = await read_json(request, settings.max_body_bytes)
        signature_name, signature = rest.pick_signature(loaded, body if isinstance(body, dict) else {})
        arrays, form, rows = rest.parse_predict(body, signature, settings.max_rows, settings.max_string_length)
        try:
            outputs = await call(loaded, signature_name, signature, arrays, rows)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as problem:
            raise rest.BadRequest(rest.graph_error(problem.message)) from None
        return JSONResponse(rest.format_answer(outputs, form, rows))

    async def models_endpoint(request: Request) -> Response:
        match = MODEL_PATH.match(request.path_params["path"])
        name = match["name"] if match else "?"
        started = time.perf_counter()
        try:
            response = await answer_model_request(request, match)
        except NotFound as problem:
            response = error(404, one_line(problem))
        except TooLarge as problem:
            response = error(413, one_line(problem))
        except rest.BadRequest as problem:
            response = error(400, one_line(problem))
        known = name if name in store.models else "unknown"
        metrics.requests.labels(known, str(response.status_code)).inc()
        if request.method == "POST":
            metrics.latency.labels(known).observe(time.perf_counter() - started)
        return response

    async def answer_model_request(request: Request, match) -> Response:
        if match is None:
            raise NotFound(f"no such path: /v1/models/{request.path_params['path']}")
        version = int(match["version"]) if match["version"] else None
        action = match["action"] or ""
        if request.method == "POST":
            if action in (":classify", ":regress"):
                raise rest.BadRequest(
                    f"{action[1:]} is not offered: these exports have predict signatures; use :predict"
                )
            if action != ":predict":
                raise rest.BadRequest("POST only to :predict")
            return await predict(request, store.get(match["name"], version, match["label"]))
        if action == "/metadata":
            return JSONResponse(rest.model_metadata(store.get(match["name"], version, match["label"])))
        if action:
            raise rest.BadRequest(f"{action[1:]} needs POST")
        loaded = store.get(match["name"], version, match["label"])
        model = store.models[match["name"]]
        if version is None and match["label"] is None:
            return JSONResponse(rest.model_status(list(model.versions.values()), model.failed))
        return JSONResponse(rest.model_status([loaded], {}))

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def healthz(request: Request) -> JSONResponse:
        loaded = {name: sorted(model.versions) for name, model in store.models.items()}
        return JSONResponse({"status": "ok", "models": loaded})

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def model_list(request: Request) -> JSONResponse:
        """What the page needs: every served model's task, version and signatures."""
        from tasks import TASKS  # light: names only

        served = []
        for name, model in sorted(store.models.items()):
            if model.versions:
                loaded = model.get()
                served.append(
                    {
                        "name": name,
                        "version": loaded.version,
                        "task": loaded.task,
                        "signatures": loaded.description.get("signatures", {}),
                    }
                )
        return JSONResponse({"models": served, "tasks": list(TASKS)})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        store.start()
        try:
            yield
        finally:
            store.stop()
            executor.shutdown(wait=False, cancel_futures=True)

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", page),
        Route("/favicon.ico", no_icon),
        Route("/healthz", healthz),
        Route("/metrics", prometheus),
        Route("/api/models", model_list),
        Route("/v1/models/{path:path}", models_endpoint, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0):
    """Run `app` with uvicorn in a thread (tests, benchmarks); yields its base URL."""
    import socket
    import threading

    import uvicorn

    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
