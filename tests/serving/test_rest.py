"""TF Serving's REST API on toy exports: status, metadata, predict in both formats, and
every bad request as a 4xx with a one-line error."""

import json

import numpy as np
import pytest

from tests.helpers import call_in_fresh_process
from tests.serving.conftest import serve


def test_status_lists_the_available_version(client):
    answer = client.get("/v1/models/sentiment").json()
    assert answer == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert client.get("/v1/models/sentiment/versions/1").json() == answer


def test_metadata_describes_every_signature_as_tf_serving_does(client):
    metadata = client.get("/v1/models/timeseries/metadata").json()
    assert metadata["model_spec"] == {"name": "timeseries", "signature_name": "", "version": "1"}
    definitions = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(definitions) == {"serving_default", "latest"}
    window = definitions["serving_default"]["inputs"]["window"]
    assert window["dtype"] == "DT_FLOAT" and [d["size"] for d in window["tensor_shape"]["dim"]] == ["-1", "12", "1"]
    assert metadata["metadata"]["task"]["task"] == "timeseries"


def test_row_and_columnar_formats_give_the_same_answer_as_the_export(client, toy_exports):
    texts = ["the film was good great", "the film was dull awful poor"]
    rows = client.post("/v1/models/sentiment:predict", json={"instances": texts}).json()["predictions"]
    columns = client.post("/v1/models/sentiment:predict", json={"inputs": {"text": texts}}).json()["outputs"]
    assert [row["label"] for row in rows] == columns["label"]
    direct = call_in_fresh_process(toy_exports[0] / "sentiment" / "1", {"text": texts})
    np.testing.assert_allclose([row["probabilities"] for row in rows], direct["probabilities"], rtol=1e-6)
    assert columns["label"] == direct["label"]
    # A single named input may also be given as a bare value in the columnar format.
    bare = client.post("/v1/models/sentiment:predict", json={"inputs": texts}).json()["outputs"]
    assert bare == columns
    named_rows = client.post("/v1/models/sentiment:predict", json={"instances": [{"text": t} for t in texts]})
    assert named_rows.json()["predictions"] == rows


def test_tagging_rows_are_cut_to_their_own_length(client):
    answer = client.post("/v1/models/tagging:predict", json={"instances": ["Obama visited New York", "hi"]}).json()
    first, second = answer["predictions"]
    assert first["length"] == 4 and first["tokens"][:4] == ["Obama", "visited", "New", "York"]
    assert second["length"] == 1 and second["tokens"][1:] == ["", "", ""]


def test_a_signature_without_inputs_by_name_in_columnar_format(client):
    outputs = client.post("/v1/models/timeseries:predict", json={"signature_name": "latest", "inputs": {}}).json()
    outputs = outputs["outputs"]
    assert len(outputs["forecast"]) == 2 and len(outputs["window"]) == 12 and outputs["target"] == "load"
    window = client.post("/v1/models/timeseries:predict", json={"instances": [outputs["window"]]}).json()
    np.testing.assert_allclose(window["predictions"][0], outputs["forecast"], rtol=1e-5)


def test_labels_from_labels_json(exports):
    (exports / "sentiment" / "labels.json").write_text(json.dumps({"stable": 1}))
    with serve(exports) as client:
        assert client.get("/v1/models/sentiment/labels/stable").status_code == 200
        answer = client.post("/v1/models/sentiment/labels/stable:predict", json={"instances": ["good"]})
        assert answer.status_code == 200
        assert client.get("/v1/models/sentiment/labels/canary").status_code == 404


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        ("/v1/models/nothing:predict", {"instances": ["x"]}, 404, "unknown model 'nothing'"),
        ("/v1/models/sentiment/versions/7:predict", {"instances": ["x"]}, 404, "no loaded version 7"),
        ("/v1/models/sentiment:predict", {"signature_name": "nope", "instances": ["x"]}, 404, "no signature 'nope'"),
        ("/v1/models/..%2F..%2Fetc:predict", {"instances": ["x"]}, 404, "no such path"),
        ("/v1/models/sentiment:predict", {"instance": ["x"]}, 400, "unknown field(s) instance"),
        ("/v1/models/sentiment:predict", {"instances": ["x"], "inputs": ["x"]}, 400, "exactly one of"),
        ("/v1/models/sentiment:predict", {"instances": []}, 400, "non-empty list"),
        ("/v1/models/sentiment:predict", {"instances": [1, 2]}, 400, "expected strings, got an integer"),
        ("/v1/models/sentiment:predict", {"instances": [{"texts": "x"}]}, 400, "exactly the inputs text"),
        ("/v1/models/sentiment:predict", {"signature_name": 3, "instances": ["x"]}, 400, "must be a string"),
        ("/v1/models/sentiment:predict", ["x"], 400, "must be a JSON object"),
        ("/v1/models/timeseries:predict", {"instances": [[[1.0]] * 5]}, 400, "does not fit [?, 12, 1]"),
        ("/v1/models/timeseries:predict", {"instances": [[["a"]] * 12]}, 400, "expected numbers"),
        ("/v1/models/timeseries:predict", {"instances": [[[1.0]] * 12, [[1.0]] * 11]}, 400, "ragged"),
        ("/v1/models/timeseries:predict", {"signature_name": "latest", "instances": [1]}, 400, "takes no inputs"),
        ("/v1/models/sentiment:classify", {"examples": []}, 400, "classify is not offered"),
        ("/v1/models/sentiment:predict", {"instances": ["x"] * 300}, 400, "300 rows in one request; at most 256"),
        ("/v1/models/sentiment:predict", {"instances": ["x" * 10_001]}, 400, "at most 10000"),
    ],
)
def test_bad_requests_are_one_line_4xx_errors(client, path, body, status, message):
    answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error and "\n" not in error


def test_malformed_json_and_oversized_bodies(client):
    answer = client.post("/v1/models/sentiment:predict", content=b"{not json")
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]
    answer = client.post("/v1/models/sentiment:predict", content=b"\xff\xfe")
    assert answer.status_code == 400
    big = json.dumps({"instances": ["x" * 9_000] * 200})
    answer = client.post("/v1/models/sentiment:predict", content=big)
    assert answer.status_code == 413 and "at most" in answer.json()["error"]


def test_health_and_prometheus_metrics(exports):
    with serve(exports) as client:
        check_health_and_metrics(client)


def check_health_and_metrics(client):
    models = {name: [1] for name in ("generation", "sentiment", "tagging", "timeseries", "translation")}
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["models"] == models
    assert health["queues"] == {name: 0 for name in models}
    client.post("/v1/models/sentiment:predict", json={"instances": ["good", "bad"]})
    client.post("/v1/models/sentiment:predict", json={"instances": [1]})
    client.post("/v1/models/nothing:predict", json={"instances": ["x"]})
    client.put("/v1/models/sentiment:predict", json={"instances": ["x"]})
    client.post("/healthz")
    text = client.get("/metrics").text
    assert 'serving_requests_total{code="200",model="sentiment",signature="serving_default"} 1.0' in text
    assert 'serving_requests_total{code="400",model="sentiment",signature="serving_default"} 1.0' in text
    assert 'serving_requests_total{code="404",model="unknown",signature=""} 1.0' in text
    assert 'serving_requests_total{code="405",model="sentiment",signature=""} 1.0' in text
    assert 'serving_requests_total{code="405",model="",signature=""} 1.0' in text
    assert 'serving_queue_depth{model="sentiment"} 0.0' in text
    assert "serving_request_seconds_bucket" in text and "serving_batch_rows_bucket" in text


def test_the_page_and_the_model_list(client):
    assert "RNN task suite" in client.get("/").text
    listing = client.get("/api/models").json()
    assert {model["task"] for model in listing["models"]} >= {"sentiment", "tagging", "timeseries"}
