"""Property-based fuzzing of the REST API (hypothesis): for every model type, requests
built from its own metadata, with values of every JSON type, out of range, the wrong
shape, lone surrogates, NaN, huge numbers and plain junk. No answer may be a 5xx or come
later than the deadline, and the server must be alive afterwards."""

import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.app import background_server, create_app
from serving.models import ModelStore, find_models
from tests.serving.conftest import server_settings

DEADLINE = 20.0
EXAMPLES = 110  # per model type: 550 requests in all
MODELS = ["sentiment", "tagging", "timeseries", "generation", "translation"]

ODD_STRINGS = st.sampled_from(["\ud800", "\udfff", "", " ", "\x00", "ROMEO:", "é" * 50, "x" * 10_001, "NaN"])
TEXT = st.one_of(st.text(max_size=30), ODD_STRINGS)
ODD_NUMBERS = st.sampled_from(
    [0, -1, 1, 2, 64, 65, 2000, 2001, 2**31 - 1, 2**31, -(2**31) - 1, 10**20, 10**40, 1.5, 1e39, -1e39]
)
NUMBER = st.one_of(
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD_NUMBERS,
    st.sampled_from([float("nan"), float("inf"), True, False, None, "20", [1]]),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=12,
)


def value_for(spec: dict):
    """Values for one input of a signature (from its TF Serving metadata): mostly the
    right shape with good or bad leaves, sometimes anything at all."""
    sizes = [int(dim["size"]) for dim in spec["tensor_shape"]["dim"]]
    leaf = TEXT if spec["dtype"] == "DT_STRING" else NUMBER
    if spec["dtype"] != "DT_STRING":
        leaf = st.one_of(st.floats(-5, 5), NUMBER) if spec["dtype"] == "DT_FLOAT" else leaf
    shaped = leaf
    for size in reversed(sizes):
        shaped = (
            st.lists(shaped, min_size=1, max_size=3) if size == -1 else st.lists(shaped, min_size=size, max_size=size)
        )
    return st.one_of(shaped, shaped, shaped, ANY_JSON)


def request_bodies(metadata: dict):
    """Predict bodies for a model: a named (or made-up) signature with inputs in the row
    or columnar format, or any JSON at all."""
    definitions = metadata["metadata"]["signature_def"]["signature_def"]
    per_signature = []
    for name, definition in definitions.items():
        inputs = st.fixed_dictionaries({key: value_for(spec) for key, spec in definition["inputs"].items()})
        named = st.sampled_from([name, name, name, "nope", 3])
        per_signature.append(
            st.one_of(
                st.builds(lambda n, i: {"signature_name": n, "inputs": i}, named, inputs),
                st.builds(lambda n, i: {"signature_name": n, "instances": [i]}, named, inputs),
                st.builds(lambda i: {"inputs": next(iter(i.values()), [])}, inputs),
            )
        )
    return st.one_of(*per_signature, ANY_JSON)


@pytest.fixture(scope="module")
def server(toy_exports):
    store = ModelStore(lambda: find_models(toy_exports[0]), poll_seconds=60)
    options = server_settings(deadline_seconds=DEADLINE)
    with background_server(create_app(store, options), settings=options) as url, httpx.Client(base_url=url) as http:
        yield http


def body_text(body) -> bytes:
    """JSON as a client may send it: NaN and Infinity included, lone surrogates escaped."""
    return json.dumps(body, allow_nan=True).encode("utf-8")


@pytest.mark.parametrize("model", MODELS)
def test_no_request_gets_a_5xx_or_a_late_answer(server, model):
    metadata = server.get(f"/v1/models/{model}/metadata").json()
    seen = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.one_of(request_bodies(metadata).map(body_text), st.binary(max_size=40)))
    def ask(content):
        started = time.perf_counter()
        answer = server.post(f"/v1/models/{model}:predict", content=content, timeout=DEADLINE + 10)
        took = time.perf_counter() - started
        seen.append(answer.status_code)
        assert answer.status_code < 500, (content[:300], answer.text[:300])
        assert took < DEADLINE + 1, f"{took:.1f} s for {content[:300]!r}"
        error = answer.json().get("error", "")
        assert "\n" not in error and (answer.status_code == 200) == (not error)

    ask()
    assert len(seen) >= EXAMPLES and 200 in seen and 400 in seen
    assert server.get("/healthz").status_code == 200
