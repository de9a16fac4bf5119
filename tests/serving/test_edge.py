"""The server under load and under slow or rude clients: deadlines, bounded queues,
models that do not wait for each other, read timeouts, disconnects and access logs."""

import concurrent.futures
import logging
import socket
import time

import httpx

from serving.app import background_server, create_app
from serving.models import ModelStore, find_models
from tests.serving.conftest import server_settings

HEAVY = {
    "signature_name": "generate",
    "inputs": {
        "prompt": ["ROMEO:"] * 16,
        "temperature": 0.0,
        "top_k": 0,
        "top_p": 1.0,
        "max_length": 2000,
        "seed": 1,
        "beam_width": 32,
    },
}


def running(exports, **settings):
    settings = server_settings(**settings)
    store = ModelStore(lambda: find_models(exports), poll_seconds=60)
    return background_server(create_app(store, settings), settings=settings)


def post(url, model, body, timeout=120):
    return httpx.post(f"{url}/v1/models/{model}:predict", json=body, timeout=timeout)


def test_a_request_past_its_deadline_is_a_json_504(toy_exports):
    with running(toy_exports[0], deadline_seconds=0.2) as url:
        answer = post(url, "generation", HEAVY)
        assert answer.status_code == 504 and "deadline of 0.2 s" in answer.json()["error"]
        metrics = httpx.get(f"{url}/metrics").text
        assert 'serving_rejected_total{model="generation",reason="deadline"} 1.0' in metrics
        assert 'code="504",model="generation",signature="generate"' in metrics


def test_a_full_queue_is_a_429_and_health_says_overloaded(toy_exports):
    with running(toy_exports[0], max_waiting=1, deadline_seconds=2) as url:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: post(url, "generation", HEAVY), range(4)))
            health = httpx.get(f"{url}/healthz")
        codes = sorted(answer.status_code for answer in answers)
        assert 429 in codes and set(codes) <= {200, 429, 504}, codes
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert "requests waiting" in refused.json()["error"] and refused.headers["retry-after"] == "1"
        assert health.status_code == 503 and health.json()["overloaded"] == ["generation"]
        assert 'serving_rejected_total{model="generation",reason="queue_full"}' in httpx.get(f"{url}/metrics").text


def test_heavy_generation_does_not_hold_up_other_models(toy_exports):
    """Two long generations run; a sentiment request meanwhile answers in a fraction of
    the time one of them takes (each model has its own threads)."""
    with running(toy_exports[0], deadline_seconds=120) as url:
        post(url, "sentiment", {"instances": ["warm up"]})
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            started = time.perf_counter()
            heavy = [pool.submit(post, url, "generation", HEAVY) for _ in range(2)]
            time.sleep(0.5)
            asked = time.perf_counter()
            assert post(url, "sentiment", {"instances": ["the film was good"]}).status_code == 200
            light = time.perf_counter() - asked
            codes = [future.result().status_code for future in heavy]
            slowest = time.perf_counter() - started
    assert codes == [200, 200]
    assert light < slowest / 4, f"sentiment took {light:.2f} s while generation took {slowest:.2f} s"


def half_sent(port: int, body: bool) -> socket.socket:
    """A connection that sends half a request body (or half the headers) and stops."""
    connection = socket.create_connection(("127.0.0.1", port))
    if body:
        connection.sendall(
            b"POST /v1/models/sentiment:predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\n\r\n" + b'{"instances": ["' + b"x" * 480
        )
    else:
        connection.sendall(b"POST /v1/models/sentiment:predict HTTP/1.1\r\nhost: x\r\n")
    return connection


def closed_by_server(connection: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection (after any answer) within `seconds`."""
    connection.settimeout(seconds)
    try:
        while connection.recv(65536):
            pass
        return True
    except (TimeoutError, ConnectionResetError) as problem:
        return isinstance(problem, ConnectionResetError)
    finally:
        connection.close()


def test_1000_half_sent_bodies_and_unfinished_headers_are_not_held(toy_exports, caplog):
    with running(toy_exports[0], body_timeout_seconds=1, header_timeout_seconds=1) as url:
        port = int(url.rsplit(":", 1)[1])
        connections = [half_sent(port, body=number % 10 != 0) for number in range(1000)]
        assert post(url, "sentiment", {"instances": ["still answering"]}).status_code == 200
        deadline = time.monotonic() + 20
        held = [c for c in connections if not closed_by_server(c, max(deadline - time.monotonic(), 0.01))]
        assert held == []
        assert post(url, "sentiment", {"instances": ["and after"]}).status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert 'code="408",model="sentiment",signature=""} 900.0' in metrics


def test_a_client_that_disconnects_is_one_log_line_and_requests_are_logged(toy_exports, caplog):
    caplog.set_level(logging.INFO)
    with running(toy_exports[0]) as url:
        port = int(url.rsplit(":", 1)[1])
        connection = half_sent(port, body=True)
        time.sleep(0.3)
        connection.close()
        post(url, "sentiment", {"instances": ["good"]})
        time.sleep(0.3)
    lines = [record for record in caplog.records if record.name.startswith("serving")]
    went_away = [record for record in lines if "went away" in record.getMessage()]
    assert len(went_away) == 1 and not went_away[0].exc_info
    access = [record.getMessage() for record in lines if record.name == "serving.access"]
    assert any(line.startswith("POST /v1/models/sentiment:predict 200 ") and line.endswith(" ms") for line in access)
    assert not any(record.exc_info for record in caplog.records)
