"""Dynamic batching: concurrent requests merged into one call, each caller getting
exactly the answer it would get alone."""

import asyncio
import concurrent.futures
import re
import threading
import time

import httpx
import numpy as np
import pytest
import tensorflow as tf

from serving.app import background_server, create_app
from serving.batching import Batcher
from serving.models import ModelStore, SignatureInfo, find_models
from tests.serving.conftest import server_settings

SENTENCES = [
    "Obama visited New York",
    "hi",
    "the film was good great fine lovely superb and then some more words to make it long",
    "Paris",
    "",
    "@someone loves London and Berlin in the summer",
]


def server(exports, **settings):
    store = ModelStore(lambda: find_models(exports), poll_seconds=60)
    return background_server(create_app(store, server_settings(**settings)))


def send_all(url, model, requests, clients=16):
    """POST every request body concurrently; the answers in request order."""
    with httpx.Client(base_url=url, timeout=60) as http, concurrent.futures.ThreadPoolExecutor(clients) as pool:
        answers = pool.map(lambda body: http.post(f"/v1/models/{model}:predict", json=body), requests)
        return [answer.json() for answer in answers]


def largest_batch(url, model) -> float:
    text = httpx.get(f"{url}/metrics").text
    buckets = re.findall(
        rf'serving_batch_rows_bucket{{le="([0-9.]+)",model="{model}",signature="serving_default"}} (\S+)', text
    )
    counts = [(float(bound), float(count)) for bound, count in buckets]
    total = max(count for _, count in counts)
    return min(bound for bound, count in counts if count == total)


def test_merged_answers_equal_unmerged_ones(toy_exports):
    exports = toy_exports[0]
    requests = [{"instances": [SENTENCES[i % 6], SENTENCES[(i * 5) % 6]][: 1 + i % 2]} for i in range(48)]
    with server(exports, batching=False) as url:
        alone = {model: send_all(url, model, requests) for model in ("sentiment", "tagging")}
        assert largest_batch(url, "tagging") <= 2
    with server(exports, max_batch_size=32, batch_wait_ms=20) as url:
        merged = {model: send_all(url, model, requests) for model in ("sentiment", "tagging")}
        # Requests really were merged: some call carried more than one request's rows.
        assert largest_batch(url, "tagging") > 2 and largest_batch(url, "sentiment") > 2
    assert merged["tagging"] == alone["tagging"]  # padding cut back to each caller's longest
    for one, other in zip(merged["sentiment"], alone["sentiment"]):
        assert [row["label"] for row in one["predictions"]] == [row["label"] for row in other["predictions"]]
        for row, expected in zip(one["predictions"], other["predictions"]):
            assert max(abs(a - b) for a, b in zip(row["probabilities"], expected["probabilities"])) < 1e-5


@pytest.mark.parametrize("batch_threads", [1, 2])
def test_at_most_batch_threads_batches_of_one_signature_run_at_once(batch_threads):
    running, most = 0, 0
    lock = threading.Lock()

    def slow_model(x):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return {"y": x * 2}

    spec = {"x": tf.TensorSpec([None], tf.float32)}
    signature = SignatureInfo(slow_model, spec, {"y": tf.TensorSpec([None], tf.float32)}, {})

    async def four_full_batches():
        with concurrent.futures.ThreadPoolExecutor(4) as executor:
            batcher = Batcher(signature, executor, 2, 0.0, batch_threads=batch_threads)
            calls = [batcher.call({"x": np.array([i, i], np.float32)}, 2) for i in range(4)]
            return await asyncio.gather(*calls)

    answers = asyncio.run(four_full_batches())
    assert [answer["y"].tolist() for answer in answers] == [[2 * i, 2 * i] for i in range(4)]
    assert most == batch_threads
