"""Heavy signatures run in worker processes at the lowest CPU priority: started with the
model, really stopped at a request's deadline, answered 503 and started again when one
dies, bounded by a queue of their own. The worker itself is tested on a tiny export
whose `spin` loops as often as asked (so a call is as long as a test needs)."""

import concurrent.futures
import os
import time

import httpx
import numpy as np
import psutil
import pytest
import tensorflow as tf

from serving.worker import DeadlinePassed, GraphRefused, Worker, WorkerLost
from tests.serving.test_edge import HEAVY, post, running

SMALL = {"signature_name": "generate", "inputs": {**HEAVY["inputs"], "prompt": ["ROMEO:"], "max_length": 5}}


class Spinner(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="n")])
    def spin(self, n):
        tf.debugging.assert_non_negative(n, message="n must be at least 0")
        (count,) = tf.while_loop(lambda i: i < n, lambda i: [i + 1], [tf.constant(0, tf.int64)])
        return {"count": count}


@pytest.fixture(scope="module")
def spinner(tmp_path_factory):
    path = tmp_path_factory.mktemp("spinner") / "1"
    module = Spinner()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.spin})
    return path


@pytest.fixture
def worker():
    started = []
    # At the server's priority: beside a busy job, a SCHED_IDLE worker's start can take minutes.
    worker = Worker("spinner", 0, on_start=lambda: started.append(1))
    worker.started = started
    yield worker
    worker.stop()


def soon(seconds: float) -> float:
    return time.monotonic() + seconds


def ready(worker: Worker, spinner) -> None:
    """Call until the worker has started (its start may outlast a short deadline)."""
    for _ in range(60):
        try:
            worker.call(spinner, "serving_default", {"n": np.int64(3)}, soon(20))
            return
        except DeadlinePassed:
            continue
    raise AssertionError("the worker did not start")


def test_a_worker_takes_the_lowest_priority_before_it_imports_tensorflow(spinner):
    worker = Worker("spinner", 19)
    try:
        worker.start(spinner)
        process = psutil.Process(worker.process.pid)
        for _ in range(600):  # its first statements: no need to wait for TensorFlow
            if process.nice() == 19 and os.sched_getscheduler(process.pid) == os.SCHED_IDLE:
                break
            time.sleep(0.05)
        assert process.nice() == 19 and os.sched_getscheduler(process.pid) == os.SCHED_IDLE
    finally:
        worker.stop()


def test_niceness_0_keeps_the_servers_priority_and_refusals_are_graph_errors(worker, spinner):
    """For a machine shared with busy jobs: SCHED_IDLE work yields to every process there."""
    ready(worker, spinner)
    assert worker.call(spinner, "serving_default", {"n": np.int64(1000)}, soon(60))["count"] == 1000
    assert psutil.Process(worker.process.pid).nice() == psutil.Process().nice()
    assert os.sched_getscheduler(worker.process.pid) == os.sched_getscheduler(0)
    with pytest.raises(GraphRefused, match="n must be at least 0"):
        worker.call(spinner, "serving_default", {"n": np.int64(-1)}, soon(60))
    assert worker.started == [1]  # a refusal does not stop the worker


def test_a_call_past_its_deadline_stops_the_worker_and_the_next_call_starts_another(worker, spinner):
    ready(worker, spinner)
    process = worker.process
    with pytest.raises(DeadlinePassed, match="computed"):
        worker.call(spinner, "serving_default", {"n": np.int64(10**12)}, soon(1))
    assert process.poll() is not None  # stopped: nothing keeps computing the answer
    ready(worker, spinner)
    assert worker.started == [1, 1]


def test_a_worker_that_dies_during_a_call_is_lost_and_started_again(worker, spinner):
    ready(worker, spinner)
    process = worker.process
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(worker.call, spinner, "serving_default", {"n": np.int64(10**12)}, soon(120))
        time.sleep(0.5)
        process.kill()
        with pytest.raises(WorkerLost, match="try again"):
            call.result()
    ready(worker, spinner)
    assert worker.started == [1, 1]


def test_heavy_signatures_run_in_workers_started_with_their_models(toy_exports):
    with running(toy_exports[0], deadline_seconds=60) as url:
        children = [" ".join(child.cmdline()) for child in psutil.Process().children()]
        workers = [line for line in children if "serving.worker" in line]
        assert len(workers) == 2 and any("/generation/" in line for line in workers), workers
        assert any("/translation/" in line for line in workers), workers
        for _ in range(60):
            answer = post(url, "generation", SMALL)
            if answer.status_code != 504:  # the worker may still be starting
                break
        assert answer.status_code == 200, answer.text
        assert httpx.get(f"{url}/healthz").json()["workers"] == {"generation": 1, "translation": 1}
        assert 'serving_worker_starts_total{model="generation"} 1.0' in httpx.get(f"{url}/metrics").text


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
