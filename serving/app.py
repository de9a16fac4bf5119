"""The HTTP application: TensorFlow Serving's REST API over the `ModelStore`, plus
`/healthz`, `/metrics` (Prometheus), `/api/models` (for the page) and the page at `/`.

Model calls run off the event loop in thread pools of their own per model; heavy
signatures (those with a work limit: beam search) run in low-priority worker processes
of their own per model (serving.worker), so they cannot slow the other models down. Each
request has a deadline and each model a bounded queue, its heavy signatures another. A
bad request is a 4xx with a one-line `{"error": ...}` and never reaches TensorFlow;
nothing a client sends gets a 5xx (a worker that dies is a 503, and is started again).
"""

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import json
import re
import time
from pathlib import Path

import tensorflow as tf
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from serving import rest
from serving.batching import Batcher, run_signature
from serving.edge import LABELS, EdgeMiddleware, log, uvicorn_config
from serving.models import ModelStore, NotFound
from serving.worker import DeadlinePassed, GraphRefused, HeavyPool, WorkerLost

PAGE = Path(__file__).with_name("page.html")
MODEL_PATH = re.compile(
    r"^(?P<name>[A-Za-z0-9_.\-]+)"
    r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[A-Za-z0-9_.\-]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?$"
)


@dataclasses.dataclass
class ServerSettings:
    """Limits, deadlines, batching and workers (`make serve` sets some: main.py serve --help)."""

    # With batching, a request's own Python work (HTTP, JSON, checks, the access log) and
    # not the model sets the throughput at 64 clients on 2 cores: a batch of 32 costs the
    # tagger 0.3 ms a row against 3.4 ms for one row alone. So the batching goal (3x the
    # throughput without it) was met by making that work cheaper (serving/rest.py), with
    # these defaults kept: a batch wait would only add latency, as requests already queue
    # behind running batches, and batches over 32 rows cost as much per row.
    batching: bool = True
    max_batch_size: int = 32  # rows merged into one model call
    batch_wait_ms: float = 0.0  # extra wait for more requests after a batch's first (0: none)
    max_rows: int = 256  # rows in one request
    max_body_bytes: int = 1 << 20  # 1 MiB
    max_string_length: int = 10_000  # characters in one input string
    threads: int = 2  # calls of one model's light signatures in parallel (each model has its own)
    heavy_threads: int = 1  # worker processes of one model for its signatures with a work limit (beam search)
    # How much lower the workers' CPU priority is (os.nice; 19: the lowest, with SCHED_IDLE;
    # 0: the server's own, where other busy jobs share the machine and would starve them).
    heavy_niceness: int = 19
    heavy_max_waiting: int = 16  # heavy requests of one model running or queued; more are answered 429
    heavy_prestart: bool = True  # start the workers when a model is loaded, not at its first heavy request
    batch_threads: int = 2  # batches of one signature computed at once (with batching)
    deadline_seconds: float = 30.0  # a request not answered by then gets a 504
    max_waiting: int = 64  # requests of one model running or queued; more are answered 429
    body_timeout_seconds: float = 10.0  # to receive a request's body (408 after)
    header_timeout_seconds: float = 10.0  # to receive a new connection's request headers
    max_connections: int = 2048  # open connections and requests (uvicorn answers 503 beyond)


class TooLarge(ValueError):
    """A request body over the size limit (HTTP 413)."""


class Overloaded(RuntimeError):
    """A model with `max_waiting` requests already (HTTP 429)."""


class Metrics:
    """Request counts by model, signature and status; latencies, batch sizes, queue depth
    and rejected requests, in Prometheus's text format."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "serving_requests",
            "Requests by model, signature and status code",
            ["model", "signature", "code"],
            registry=self.registry,
        )
        self.latency = Histogram("serving_request_seconds", "Predict latency", ["model"], registry=self.registry)
        buckets = (1, 2, 4, 8, 16, 32, 64, 128, 256)
        self.batch_rows = Histogram(
            "serving_batch_rows", "Rows per model call", ["model", "signature"], buckets=buckets, registry=self.registry
        )
        self.waiting = Gauge("serving_queue_depth", "Requests running or queued", ["model"], registry=self.registry)
        self.rejected = Counter(
            "serving_rejected", "Requests refused for load or deadline", ["model", "reason"], registry=self.registry
        )
        self.worker_starts = Counter(
            "serving_worker_starts", "Heavy-signature worker processes started", ["model"], registry=self.registry
        )


class Pools:
    """One thread pool per model for its light signatures, and for its heavy ones (those
    with a work limit: beam search) `heavy_threads` threads that each drive a worker
    process of their own, so a model's long generations wait only for each other, never
    take the threads of another model or signature, and get the CPU only when the server
    does not want it."""

    def __init__(self, settings: ServerSettings, metrics: Metrics):
        self.settings, self.metrics = settings, metrics
        self.executors: dict[tuple, concurrent.futures.ThreadPoolExecutor] = {}
        self.heavy: dict[str, HeavyPool] = {}

    def get(self, model: str, heavy: bool) -> concurrent.futures.ThreadPoolExecutor:
        key = (model, heavy)
        if key not in self.executors:
            threads = self.settings.heavy_threads if heavy else self.settings.threads
            self.executors[key] = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=f"{model}-")
        return self.executors[key]

    def workers(self, model: str) -> HeavyPool:
        if model not in self.heavy:
            started = self.metrics.worker_starts.labels(model).inc
            self.heavy[model] = HeavyPool(model, self.settings.heavy_threads, self.settings.heavy_niceness, started)
        return self.heavy[model]

    def shutdown(self) -> None:
        for executor in self.executors.values():
            executor.shutdown(wait=False, cancel_futures=True)
        for workers in self.heavy.values():
            workers.stop()


class Admission:
    """At most `limit` requests per model running or queued; the rest are `Overloaded`.
    Remembers when it last refused one, for /healthz."""

    def __init__(self, limit: int, metrics: Metrics):
        self.limit, self.metrics = limit, metrics
        self.active: collections.Counter = collections.Counter()
        self.heavy: collections.Counter = collections.Counter()  # of which heavy (beam search)
        self.last_refusal: dict[str, float] = {}

    @contextlib.contextmanager
    def enter(self, model: str, heavy_limit: int | None = None):
        """Count a request of `model` while it runs; with `heavy_limit`, a heavy one, which
        is also refused when `heavy_limit` heavy requests of the model are there already."""
        if self.active[model] >= self.limit:
            self.refused(model, "queue_full")
            raise Overloaded(f"model {model!r} has {self.limit} requests waiting; try again shortly")
        if heavy_limit is not None and self.heavy[model] >= heavy_limit:
            self.refused(model, "heavy_queue_full")
            raise Overloaded(f"model {model!r} has {heavy_limit} heavy requests waiting; try again shortly")
        heavy = int(heavy_limit is not None)
        self.active[model] += 1
        self.heavy[model] += heavy
        self.metrics.waiting.labels(model).set(self.active[model])
        try:
            yield
        finally:
            self.active[model] -= 1
            self.heavy[model] -= heavy
            self.metrics.waiting.labels(model).set(self.active[model])

    def refused(self, model: str, reason: str) -> None:
        self.metrics.rejected.labels(model, reason).inc()
        self.last_refusal[model] = time.monotonic()

    def overloaded(self, within_seconds: float = 10.0) -> list[str]:
        """Models full now or that refused a request in the last `within_seconds`."""
        now = time.monotonic()
        recent = {model for model, when in self.last_refusal.items() if now - when < within_seconds}
        return sorted(recent | {model for model, count in self.active.items() if count >= self.limit})


def is_heavy(signature) -> bool:
    """Signatures with a work limit (rows x beam x length: beam search) run in workers."""
    return "work" in signature.limits


def before_deadline(deadline: float, function, *arguments):
    """`function(*arguments)` unless the deadline passed while the call was queued."""
    if time.monotonic() > deadline:
        raise DeadlinePassed("the deadline passed while the request was queued")
    return function(*arguments)


def error(status: int, message: str, **headers) -> Response:
    """{"error": message}, ASCII-escaped (a client's lone surrogate cannot break it)."""
    body = json.dumps({"error": message})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class BodyTooSlow(TimeoutError):
    """A request body that did not arrive within the body timeout (HTTP 408)."""


async def read_json(request: Request, limit: int, seconds: float):
    """The request body as JSON; over `limit` bytes is `TooLarge`, slower than `seconds`
    `BodyTooSlow`, bad JSON `BadRequest`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body of {declared} bytes; at most {limit}")
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise TooLarge(f"request body over {limit} bytes")
    except TimeoutError:
        raise BodyTooSlow(f"the request body did not arrive within {seconds:g} s") from None
    return rest.parse_json(bytes(body))


def one_line(problem: Exception) -> str:
    text = str(problem).strip().splitlines()
    return text[0] if text else type(problem).__name__


def create_app(store: ModelStore, settings: ServerSettings | None = None) -> Starlette:
    """The Starlette application serving `store` (polled while the app runs)."""
    settings = settings or ServerSettings()
    metrics = Metrics()
    pools = Pools(settings, metrics)
    admission = Admission(settings.max_waiting, metrics)
    batchers: dict[tuple, Batcher] = {}

    def batcher_for(loaded, signature_name, signature, executor) -> Batcher:
        # Keyed by name and version; the loaded object itself is compared, so a version
        # removed and loaded again gets a new batcher, and `sweep` drops removed ones.
        key = (loaded.model, loaded.version, signature_name)
        if key not in batchers or batchers[key].loaded is not loaded:
            observe = metrics.batch_rows.labels(loaded.model, signature_name).observe
            batchers[key] = Batcher(
                signature,
                executor,
                settings.max_batch_size,
                settings.batch_wait_ms / 1000,
                observe,
                settings.batch_threads,
            )
            batchers[key].loaded = loaded
        return batchers[key]

    def sweep() -> None:
        """Drop the batchers of versions no longer served (their models can be freed)."""
        for key, batcher in list(batchers.items()):
            served = store.models.get(key[0])
            if served is None or served.versions.get(key[1]) is not batcher.loaded:
                batchers.pop(key).close()

    async def call(loaded, signature_name, signature, arrays, rows, deadline):
        loop = asyncio.get_running_loop()
        if is_heavy(signature):
            metrics.batch_rows.labels(loaded.model, signature_name).observe(rows)
            call = pools.workers(loaded.model).call
            executor = pools.get(loaded.model, heavy=True)
            return await loop.run_in_executor(executor, call, loaded.path, signature_name, arrays, deadline)
        executor = pools.get(loaded.model, heavy=False)
        if settings.batching and signature.batchable:
            return await batcher_for(loaded, signature_name, signature, executor).call(arrays, rows)
        metrics.batch_rows.labels(loaded.model, signature_name).observe(rows)
        return await loop.run_in_executor(executor, before_deadline, deadline, run_signature, signature, arrays)

    async def predict(request: Request, loaded) -> Response:
        deadline = time.monotonic() + settings.deadline_seconds
        body = await read_json(request, settings.max_body_bytes, settings.body_timeout_seconds)
        signature_name, signature = rest.pick_signature(loaded, body if isinstance(body, dict) else {})
        request.scope[LABELS] = (loaded.model, signature_name)
        arrays, form, rows = rest.parse_predict(body, signature, settings.max_rows, settings.max_string_length)
        with admission.enter(loaded.model, settings.heavy_max_waiting if is_heavy(signature) else None):
            try:
                remaining = max(deadline - time.monotonic(), 0)
                outputs = await asyncio.wait_for(
                    call(loaded, signature_name, signature, arrays, rows, deadline), remaining
                )
            except TimeoutError:
                admission.refused(loaded.model, "deadline")
                raise DeadlinePassed(f"no answer within the deadline of {settings.deadline_seconds:g} s") from None
            except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as problem:
                raise rest.BadRequest(rest.graph_error(problem.message)) from None
            except GraphRefused as problem:
                raise rest.BadRequest(rest.graph_error(str(problem))) from None
            except WorkerLost:
                admission.refused(loaded.model, "worker_lost")
                raise
        return JSONResponse(rest.format_answer(outputs, form, rows))

    async def models_endpoint(request: Request) -> Response:
        match = MODEL_PATH.match(request.path_params["path"])
        name = match["name"] if match else "?"
        request.scope[LABELS] = (name if name in store.models else "unknown", "")
        started = time.perf_counter()
        try:
            response = await answer_model_request(request, match)
        except NotFound as problem:
            response = error(404, one_line(problem))
        except TooLarge as problem:
            response = error(413, one_line(problem))
        except rest.BadRequest as problem:
            response = error(400, one_line(problem))
        except BodyTooSlow as problem:
            response = error(408, one_line(problem), connection="close")
        except Overloaded as problem:
            response = error(429, one_line(problem), **{"retry-after": "1"})
        except DeadlinePassed as problem:
            response = error(504, one_line(problem))
        except WorkerLost as problem:
            response = error(503, one_line(problem), **{"retry-after": "1"})
        except ClientDisconnect:
            log.info("%s %s: the client went away before sending its whole request", request.method, request.url.path)
            response = error(499, "the client disconnected")
        if request.method == "POST" and name in store.models:
            metrics.latency.labels(name).observe(time.perf_counter() - started)
        return response

    async def answer_model_request(request: Request, match) -> Response:
        if match is None:
            raise NotFound(f"no such path: /v1/models/{request.path_params['path']}")
        version = int(match["version"]) if match["version"] else None
        action = match["action"] or ""
        if request.method not in ("GET", "POST"):
            return error(405, f"{request.method} is not allowed: GET status and metadata, POST :predict")
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
        """ok, or overloaded (503) while a model's queue is full or refused a request lately."""
        loaded = {name: sorted(model.versions) for name, model in store.models.items()}
        overloaded = admission.overloaded()
        answer = {"status": "overloaded" if overloaded else "ok", "models": loaded}
        if overloaded:
            answer["overloaded"] = overloaded
        answer["queues"] = {name: admission.active[name] for name in loaded}
        answer["workers"] = {name: workers.running() for name, workers in pools.heavy.items()}
        return JSONResponse(answer, status_code=503 if overloaded else 200)

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def model_list(request: Request) -> JSONResponse:
        """What the page needs: every served model's task, version and signatures (with
        their limits and output labels, from task.json)."""
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
        return JSONResponse({"models": served})

    def prestart() -> None:
        """Workers for every model with heavy signatures, loading its newest version."""
        if not settings.heavy_prestart:
            return
        for name, model in store.models.items():
            if model.versions:
                loaded = model.get()
                if any(is_heavy(signature) for signature in loaded.signatures.values()):
                    pools.workers(name).prestart(loaded.path)

    async def sweep_forever() -> None:
        while True:
            await asyncio.sleep(store.poll_seconds)
            sweep()
            prestart()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        store.start()
        prestart()
        sweeper = asyncio.get_running_loop().create_task(sweep_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            store.stop()
            pools.shutdown()

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    async def http_error(request: Request, problem: HTTPException) -> Response:
        return error(problem.status_code, str(problem.detail))

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    routes = [
        Route("/", page),
        Route("/favicon.ico", no_icon),
        Route("/healthz", healthz),
        Route("/metrics", prometheus),
        Route("/api/models", model_list),
        Route("/v1/models/{path:path}", models_endpoint, methods=methods),
    ]
    count = metrics.requests.labels
    middleware = [Middleware(EdgeMiddleware, count=lambda model, signature, code: count(model, signature, code).inc())]
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=middleware, exception_handlers={HTTPException: http_error}
    )
    app.state.sweep, app.state.batchers = sweep, batchers  # for tests: sweep now rather than wait
    return app


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0, settings: ServerSettings | None = None):
    """Run `app` with uvicorn in a thread (tests, benchmarks); yields its base URL."""
    import socket
    import threading

    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, host, port, settings or ServerSettings(), log_level="warning"))
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
