"""Heavy signatures run in worker processes at the lowest CPU priority: started with the
model, really stopped at a request's deadline, answered 503 and started again when one
dies, and bounded by a queue of their own."""

import concurrent.futures
import time

import httpx
import psutil

from tests.serving.test_edge import HEAVY, post, running

SMALL = {"signature_name": "generate", "inputs": {**HEAVY["inputs"], "prompt": ["ROMEO:"], "max_length": 5}}


def workers(model: str) -> list[psutil.Process]:
    """This process's worker processes for `model` (started with its version to preload)."""
    children = psutil.Process().children()
    return [
        child
        for child in children
        if "serving.worker" in child.cmdline() and any(f"/{model}/" in part for part in child.cmdline())
    ]


def answered(url: str, body: dict, seconds: float = 120) -> httpx.Response:
    """The first answer that is not a 504 (the worker may still be starting)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = post(url, "generation", body)
        if answer.status_code != 504 or time.monotonic() > deadline:
            return answer


def test_heavy_signatures_run_in_a_worker_at_the_lowest_priority_restarted_when_it_dies(toy_exports):
    with running(toy_exports[0], deadline_seconds=60) as url:
        assert answered(url, SMALL).status_code == 200
        (worker,) = workers("generation")
        assert worker.nice() == 19
        assert len(workers("translation")) == 1  # started with the model, before any request

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            heavy = pool.submit(post, url, "generation", HEAVY)
            time.sleep(1.0)  # the worker is computing it
            worker.kill()
            lost = heavy.result()
        assert lost.status_code == 503, lost.text
        assert "try again" in lost.json()["error"] and lost.headers["retry-after"] == "1"

        assert answered(url, SMALL).status_code == 200  # a new worker
        assert [process.pid for process in workers("generation")] != [worker.pid]
        metrics = httpx.get(f"{url}/metrics").text
        assert 'serving_worker_starts_total{model="generation"} 2.0' in metrics
        assert 'serving_rejected_total{model="generation",reason="worker_lost"} 1.0' in metrics
        assert 'code="503",model="generation",signature="generate"' in metrics


def test_a_heavy_call_past_its_deadline_stops_its_worker(toy_exports):
    with running(toy_exports[0], deadline_seconds=3) as url:
        assert answered(url, SMALL).status_code == 200
        (worker,) = workers("generation")
        answer = post(url, "generation", HEAVY)
        assert answer.status_code == 504 and "deadline" in answer.json()["error"]
        worker.wait(timeout=10)  # stopped: nothing keeps computing the answer
        assert answered(url, SMALL).status_code == 200


def test_heavy_requests_have_a_queue_of_their_own(toy_exports):
    with running(toy_exports[0], heavy_max_waiting=1, deadline_seconds=10) as url:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: post(url, "generation", HEAVY), range(3)))
            # Other models and the light signatures of the same model are not refused.
            assert post(url, "sentiment", {"instances": ["good"]}).status_code == 200
        codes = sorted(answer.status_code for answer in answers)
        assert 429 in codes and set(codes) <= {200, 429, 504}, codes
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert "heavy requests waiting" in refused.json()["error"]
        assert 'reason="heavy_queue_full"' in httpx.get(f"{url}/metrics").text
