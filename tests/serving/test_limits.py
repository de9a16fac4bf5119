"""Requests that once broke the server or reached TensorFlow: each is a 4xx with a
one-line error naming what was wrong (or an answer, where the request is valid), checked
before TensorFlow; and the export refuses the same settings on its own."""

import json

import pytest
import tensorflow as tf

from serving.models import load_version

SETTINGS = {"temperature": 0.8, "top_k": 0, "top_p": 1.0, "max_length": 20, "seed": 1, "beam_width": 2}


def generate(**changes) -> str:
    """A generate request body (JSON text, so NaN and huge numbers can be written)."""
    inputs = {"prompt": ["ROMEO:"], **SETTINGS}
    parts = [json.dumps({name: inputs[name]})[1:-1] for name in inputs if name not in changes]
    parts += [f'"{name}": {value}' for name, value in changes.items()]
    return '{"signature_name": "generate", "inputs": {' + ", ".join(parts) + "}}"


def window(value: str) -> str:
    """A time-series request whose first value is `value` (JSON text)."""
    return '{"instances": [[[' + value + "]" + ", [1.0]" * 11 + "]]}"


def assert_refused(answer, field: str, status: int = 400):
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert field in message and "\n" not in message, message


@pytest.mark.parametrize(
    "field, value",
    [
        ("beam_width", "2147483647"),
        ("beam_width", "-1"),
        ("max_length", "2147483648"),
        ("max_length", "100000000000000000000"),
        ("max_length", "10000"),
        ("max_length", "0"),
        ("max_length", '"20"'),
        ("max_length", "1.5"),
        ("max_length", "true"),
        ("top_p", "0"),
        ("top_p", "2"),
        ("top_p", "NaN"),
        ("top_k", "-3"),
        ("temperature", "NaN"),
        ("temperature", "Infinity"),
        ("temperature", "true"),
        ("seed", "1e400"),
    ],
)
def test_generation_settings_out_of_range_or_of_the_wrong_type(client, field, value):
    answer = client.post("/v1/models/generation:predict", content=generate(**{field: value}))
    assert_refused(answer, field)


def test_a_valid_generate_request_answers_and_total_work_is_capped(client):
    answer = client.post("/v1/models/generation:predict", content=generate())
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["outputs"]["text"]) == 1
    huge = generate(prompt=json.dumps(["ROMEO:"] * 64), beam_width="64", max_length="2000")
    assert_refused(client.post("/v1/models/generation:predict", content=huge), "rows x beam_width x max_length")
    long_prompt = generate(prompt=json.dumps(["x" * 2001]))
    assert_refused(client.post("/v1/models/generation:predict", content=long_prompt), "'prompt'")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "null", "1e39", "1" * 400, '"5"', "true"])
def test_bad_time_series_values(client, value):
    assert_refused(client.post("/v1/models/timeseries:predict", content=window(value)), "'window'")


@pytest.mark.parametrize("model", ["sentiment", "tagging", "generation"])
def test_a_lone_surrogate_is_refused(client, model):
    body = '{"instances": ["\\ud800"]}'
    if model == "generation":
        body = generate(prompt='["\\ud800"]')
    answer = client.post(f"/v1/models/{model}:predict", content=body)
    assert_refused(answer, "'prompt'" if model == "generation" else "'text'")


@pytest.mark.parametrize("model", ["sentiment", "tagging", "timeseries", "generation", "translation"])
def test_an_empty_batch_is_refused(client, model):
    assert_refused(client.post(f"/v1/models/{model}:predict", content='{"inputs": []}'), "")


def test_deep_json_and_huge_integers_anywhere(client):
    deep = "[" * 100_000 + "]" * 100_000
    assert_refused(client.post("/v1/models/sentiment:predict", content=deep), "deep")
    huge = '{"instances": ["good"], "x": ' + "9" * 5000 + "}"
    assert_refused(client.post("/v1/models/sentiment:predict", content=huge), "unknown field(s) x")
    inside = '{"instances": [' + "9" * 5000 + "]}"
    assert_refused(client.post("/v1/models/sentiment:predict", content=inside), "digits")


def test_translation_settings(client):
    body = {"signature_name": "translate", "inputs": {"text": ["one two"], "beam_width": 0, "max_length": 0}}
    assert_refused(client.post("/v1/models/translation:predict", json=body), "beam_width")
    body["inputs"].update(beam_width=2, max_length=301)
    assert_refused(client.post("/v1/models/translation:predict", json=body), "max_length")
    body["inputs"].update(max_length=0)
    assert client.post("/v1/models/translation:predict", json=body).status_code == 200


def test_limits_are_shown_in_metadata(client):
    task = client.get("/v1/models/generation/metadata").json()["metadata"]["task"]
    limits = task["signatures"]["generate"]["limits"]
    assert limits["settings"]["beam_width"] == {"min": 0, "max": 64}
    assert limits["chars"] == 2000 and limits["work"]["of"] == ["rows", "beam_width", "max_length"]


def test_the_export_refuses_the_same_settings_without_the_server(toy_exports):
    """What real TF Serving would run: the signature itself, with nothing checked first."""
    loaded = load_version("generation", 1, toy_exports[0] / "generation" / "1")
    function = loaded.signatures["generate"].function
    dtypes = {name: spec.dtype for name, spec in loaded.signatures["generate"].inputs.items()}

    def call(**changes):
        values = {"prompt": ["ROMEO:"], **SETTINGS, **changes}
        return function(**{name: tf.constant(value, dtypes[name]) for name, value in values.items()})

    assert call()["text"].shape == [1]
    for field, value in [
        ("beam_width", -1),
        ("beam_width", 2**31 - 1),
        ("top_p", 0.0),
        ("top_k", -3),
        ("temperature", float("nan")),
        ("prompt", ["x" * 2001]),
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=field):
            call(**{field: value})
    with pytest.raises(tf.errors.InvalidArgumentError, match="rows x beam_width x max_length"):
        call(prompt=["a"] * 64, beam_width=64, max_length=2000)
