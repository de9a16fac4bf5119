"""Load and fault benchmark of `make serve`, on 127.0.0.1 only, bounded in requests and time.

    python -m bench.serve_load [--requests 2000] [--seconds 20]     (or: make bench-serve)

Exports the latest finished sentiment and tagging runs into a temporary folder, starts
`main.py serve` twice on copies of it, in subprocesses, one with dynamic batching and one
without, and drives them from this process with 1, 8 and 64 concurrent clients (asyncio,
one keep-alive connection each, on uvloop as the server), one sentence per request, each row on one server and
then at once on the other. Prints throughput and p50/p99 latency per row, counts errors
(any non-200, and any answer that differs from an in-process call of the same
signature), swaps in a new version during the 8-client rows with batching, and compares
one HTTP request of 32 sentences with the in-process call of the signature on the same
32, alternating the two. Ratios are measured side by side here. Last, with 4 heavy
generation requests in flight (16 prompts, beam 8, length 1000 each; the latest
generation run), one-sentence sentiment requests one after another, 50 ms apart: their
latency against sentiment's idle p99, paced alike (goal: within 2x). `--part batching`
or `--part isolation` runs only those rows.
"""

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import tensorflow as tf
import uvloop

from common import export
from common.runs import find_run
from tasks import get_task

SENTENCES = [
    "a gripping, funny film",
    "Obama visited New York last week",
    "the plot is thin and the acting is worse",
    "@someone loves London and Berlin in the summer",
    "an honest, moving portrait of a family",
    "dull",
    "I watched it twice and would watch it again tomorrow",
    "Apple opened a new store in Paris",
]
CLIENTS = (1, 8, 64)
MODELS = ("sentiment", "tagging")


HEAVY = {
    "signature_name": "generate",
    "inputs": {
        "prompt": ["ROMEO:"] * 16,
        "temperature": 0.0,
        "top_k": 0,
        "top_p": 1.0,
        "max_length": 1000,
        "seed": 1,
        "beam_width": 8,
    },
}


def export_latest(folder: Path, names=MODELS) -> dict:
    """exports/<task>/1 for the latest finished run of each task."""
    for name in names:
        task = get_task(name)
        export.export_run(task, find_run(name), folder / name / "1")
    return {name: folder / name for name in names}


def start_server(bases: dict, port: int, batching: bool) -> subprocess.Popen:
    models = ",".join(f"{name}={path}" for name, path in bases.items())
    command = [sys.executable, "main.py", "serve", "--port", str(port), "--models", models, "--poll-seconds", "0.5"]
    command += ["--deadline-seconds", "600"]  # the heavy generations of the isolation row run for minutes
    if not batching:
        command.append("--no-batching")
    # The server logs a line per request: to a file, as a pipe nobody reads would fill and stall it.
    log = tempfile.NamedTemporaryFile("w+", prefix=f"bench-serve-{port}-", suffix=".log", delete=False)
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            if all(health["models"].get(name) for name in MODELS):
                return server
        except (httpx.HTTPError, ValueError):
            time.sleep(0.3)
    server.kill()
    raise SystemExit(f"the server did not start: {Path(log.name).read_text()[-2000:]}")


def expected_answers(bases: dict) -> dict:
    """The in-process answer of each model to each sentence (the reference)."""
    answers = {}
    for name, base in bases.items():
        serve = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
        for sentence in SENTENCES:
            outputs = serve(text=tf.constant([sentence]))
            answers[name, sentence] = {key: value.numpy()[0] for key, value in outputs.items()}
    return answers


def same(answer: dict, expected: dict) -> bool:
    """Whether an HTTP answer (JSON) equals the in-process one (NumPy, bytes)."""
    for key, value in expected.items():
        value, got = np.asarray(value), np.asarray(answer[key], dtype=object)
        if value.dtype.kind in "OS":
            if [item.decode() for item in np.ravel(value.astype(object))] != list(np.ravel(got)):
                return False
        elif not np.allclose(got.astype(float), value, rtol=1e-4, atol=1e-5):
            return False
    return True


class Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads the answer.

    The load generator shares the machine with the server, so it must cost far less per
    request than the server does: httpx's async client spends about as long on a request
    as the server's whole answer, which would measure the client. This one only writes
    the bytes and reads the reply (Content-Length framing, as uvicorn answers)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Connection":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: dict) -> tuple[int, dict]:
        status, answer = await self.post_raw(path, body)
        return status, json.loads(answer)

    async def post_raw(self, path: str, body: dict) -> tuple[int, bytes]:
        """The status and the answer's bytes, unparsed."""
        payload = json.dumps(body).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def drive(port: int, model: str, clients: int, requests: int, seconds: float, expected: dict, during=None):
    """`requests` one-sentence predicts from `clients` concurrent clients; latencies and errors."""
    latencies, errors, sent = [], 0, 0
    deadline = time.monotonic() + seconds
    # Answers already checked, as bytes: one the same to the byte is not checked again, so
    # that checking costs the client little next to the server (they share the cores).
    checked = set()

    def correct(sentence: str, answer: bytes) -> bool:
        if (sentence, answer) in checked:
            return True
        if same(json.loads(answer)["predictions"][0], expected[model, sentence]):
            checked.add((sentence, answer))
            return True
        return False

    async def client(connection, number):
        nonlocal errors, sent
        while sent < requests and time.monotonic() < deadline:
            sentence = SENTENCES[(sent + number) % len(SENTENCES)]
            sent += 1
            started = time.perf_counter()
            status, answer = await connection.post_raw(f"/v1/models/{model}:predict", {"instances": [sentence]})
            latencies.append(time.perf_counter() - started)
            if status != 200 or not correct(sentence, answer):
                errors += 1

    connections = [await Connection.open(port) for _ in range(clients)]
    started = time.perf_counter()
    tasks = [asyncio.create_task(client(connection, number)) for number, connection in enumerate(connections)]
    if during:
        await during()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "errors": errors,
    }


def batch_of_32(port: int, base: Path, repeats: int = 40) -> tuple[float, float]:
    """Median seconds of one HTTP predict of 32 sentences vs the in-process signature call,
    alternating the two so that a busy machine slows both alike."""
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(32)]
    serve = tf.saved_model.load(str(base / "1")).signatures["serving_default"]

    async def alternate() -> tuple[list, list]:
        connection = await Connection.open(port)
        remote, local = [], []
        for _ in range(repeats + 1):  # the first of each warms up
            started = time.perf_counter()
            serve(text=tf.constant(texts))
            local.append(time.perf_counter() - started)
            started = time.perf_counter()
            status, _ = await connection.post("/v1/models/sentiment:predict", {"instances": texts})
            remote.append(time.perf_counter() - started)
            assert status == 200
        await connection.close()
        return remote[1:], local[1:]

    remote, local = uvloop.run(alternate())
    return statistics.median(remote), statistics.median(local)


async def sentiment_latencies(port: int, count: int = 0, until=None) -> list[float]:
    """Seconds of one-sentence sentiment requests sent one after another, 50 ms apart:
    `count` of them, or as many as fit until `until` (a task) is done. Idle and loaded
    requests are paced alike: back to back, a request finds the server's threads (and
    TensorFlow's, which spin a while after work) still awake and its caches warm, which
    made the idle p99 a different measurement from the loaded one."""
    connection = await Connection.open(port)
    latencies = []
    while len(latencies) < count or (until is not None and not until.done()):
        started = time.perf_counter()
        status, _ = await connection.post("/v1/models/sentiment:predict", {"instances": [SENTENCES[0]]})
        latencies.append(time.perf_counter() - started)
        assert status == 200, status
        await asyncio.sleep(0.05)
    await connection.close()
    return latencies


def isolation(port: int) -> dict:
    """Sentiment's idle p99, then its latencies while 4 heavy generations are in flight."""

    async def measure() -> dict:
        idle = await sentiment_latencies(port, count=200)

        async def heavy() -> int:
            connection = await Connection.open(port)
            status, _ = await connection.post("/v1/models/generation:predict", HEAVY)
            await connection.close()
            return status

        started = time.perf_counter()
        generations = asyncio.gather(*(heavy() for _ in range(4)))
        await asyncio.sleep(0.5)  # all four in flight
        loaded = await sentiment_latencies(port, until=generations)
        statuses = await generations
        return {
            "idle_p50_ms": 1000 * statistics.median(idle),
            "idle_p99_ms": 1000 * float(np.percentile(idle, 99)),
            "loaded_p50_ms": 1000 * statistics.median(loaded),
            "loaded_p99_ms": 1000 * float(np.percentile(loaded, 99)),
            "loaded_requests": len(loaded),
            "generation_seconds": time.perf_counter() - started,
            "generation_statuses": statuses,
        }

    return uvloop.run(measure())


def swap_in_new_version(base: Path, port: int):
    """During a run: copy version 1 in as version 2, then wait until the server serves it
    (the row ends only after the swap, so it happens under load)."""

    async def swap():
        await asyncio.sleep(1.0)
        staging = base / ".staging-2"
        shutil.copytree(base / "1", staging)
        staging.rename(base / "2")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            health = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/healthz", timeout=5)
            if 2 in health.json()["models"][base.name]:
                return
            await asyncio.sleep(0.2)
        raise SystemExit(f"version 2 of {base.name} was not served within 120 s")

    return swap


def main(arguments) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    batched = export_latest(folder / "batched")
    if arguments.part in ("all", "isolation"):
        batched |= export_latest(folder / "batched", ("generation",))
    unbatched = {name: folder / "unbatched" / name for name in MODELS}
    for name in MODELS:
        shutil.copytree(batched[name], unbatched[name])
    expected = expected_answers({name: batched[name] for name in MODELS})
    # Both servers run at once and each row is measured on one, then at once on the
    # other, so that a machine busy with other work slows both alike.
    servers = {True: start_server(batched, 8611, True), False: start_server(unbatched, 8612, False)}
    rows, isolated = [], None
    try:
        for model in MODELS if arguments.part in ("all", "batching") else ():
            for clients in CLIENTS:
                for batching, port in ((True, 8611), (False, 8612)):
                    during = swap_in_new_version(batched[model], port) if batching and clients == 8 else None
                    # Untimed warm-up at this concurrency: connections open, first calls traced.
                    uvloop.run(drive(port, model, clients, 4 * clients, 10, expected))
                    result = uvloop.run(
                        drive(port, model, clients, arguments.requests, arguments.seconds, expected, during)
                    )
                    rows.append({"model": model, "batching": batching, "clients": clients, **result})
                    print(f"{model} batching={batching} clients={clients}: {result}", file=sys.stderr)
        remote, local = batch_of_32(8611, batched["sentiment"])
        if arguments.part in ("all", "isolation"):
            isolated = isolation(8611)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    header = ("model", "batching", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors")
    print("\n" + f"{header[0]:<10}" + "".join(f"{name:>9}" for name in header[1:]))
    for row in rows:
        values = [str(row["batching"]), str(row["clients"]), str(row["requests"])]
        values += [f"{row[key]:.1f}" for key in ("per_second", "p50_ms", "p99_ms")] + [str(row["errors"])]
        print(f"{row['model']:<10}" + "".join(f"{value:>9}" for value in values))
    for model in MODELS if rows else ():
        with_batching = next(r for r in rows if r["model"] == model and r["batching"] and r["clients"] == 64)
        without = next(r for r in rows if r["model"] == model and not r["batching"] and r["clients"] == 64)
        ratio = with_batching["per_second"] / without["per_second"]
        print(f"{model}: throughput at 64 clients, batching / none: {ratio:.2f}x")
    times = f"HTTP {1000 * remote:.1f} ms vs in-process {1000 * local:.1f} ms"
    print(f"sentiment, 32 sentences: {times} = {remote / local:.2f}x")
    print(f"errors (non-200 or answer differing from the in-process call): {sum(row['errors'] for row in rows)}")
    print("(a new version was swapped in during each model's 8-client run with batching)")
    if isolated:
        print_isolation(isolated)
    shutil.rmtree(folder, ignore_errors=True)


def print_isolation(isolated: dict) -> None:
    loaded = f"p50 {isolated['loaded_p50_ms']:.1f} ms, p99 {isolated['loaded_p99_ms']:.1f} ms"
    print(
        f"sentiment with 4 heavy generations in flight (16 prompts, beam 8, length 1000; "
        f"{isolated['generation_seconds']:.0f} s, statuses {isolated['generation_statuses']}): "
        f"{loaded} over {isolated['loaded_requests']} requests vs idle p50 {isolated['idle_p50_ms']:.1f} ms, "
        f"p99 {isolated['idle_p99_ms']:.1f} ms; loaded p99 / idle p99 "
        f"= {isolated['loaded_p99_ms'] / isolated['idle_p99_ms']:.2f}x (goal: at most 2x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per row (at most)")
    parser.add_argument("--seconds", type=float, default=20, help="seconds per row (at most)")
    parser.add_argument(
        "--part", choices=("all", "batching", "isolation"), default="all", help="only the batching or isolation rows"
    )
    main(parser.parse_args())
