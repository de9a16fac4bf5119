"""Exports with several named signatures and a task.json, reloaded without project code."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import SUITE_VERSION, export
from common.export import read_description, write_saved_model
from common.task import Signature
from tests.helpers import call_in_fresh_process


def tiny_export(path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    offset = tf.Variable([10.0, 20.0])

    def serve(values):
        return {"scores": model(values)}

    def shifted():
        return {"scores": model(tf.ones([1, 3])) + offset}

    signatures = {
        "serving_default": Signature(serve, [tf.TensorSpec([None, 3], tf.float32, name="values")]),
        "shifted": Signature(shifted, []),
    }
    write_saved_model(path, signatures, [model, offset], "toy", extra={"note": "kept"})
    return model


def test_every_signature_is_described_and_answers_in_a_fresh_process(tmp_path):
    model = tiny_export(tmp_path / "export")
    description = read_description(tmp_path / "export")
    assert description["task"] == "toy" and description["suite_version"] == SUITE_VERSION
    assert description["note"] == "kept"
    assert description["signatures"]["serving_default"] == {
        "inputs": {"values": {"dtype": "float32", "shape": [None, 3]}},
        "outputs": {"scores": {"dtype": "float32", "shape": [None, 2]}},
        "limits": {"rows": 256, "chars": 10_000},  # the defaults, asserted in the graph too
    }
    assert description["signatures"]["shifted"]["inputs"] == {}
    values = np.arange(6, dtype="float32").reshape(2, 3)
    answer = call_in_fresh_process(tmp_path / "export", {"values": values.tolist()})
    np.testing.assert_allclose(answer["scores"], model(values).numpy(), rtol=1e-5)
    shifted = call_in_fresh_process(tmp_path / "export", {}, signature="shifted")
    np.testing.assert_allclose(shifted["scores"], model(np.ones((1, 3), "float32")).numpy() + [10, 20], rtol=1e-5)


def test_an_export_without_serving_default_is_refused(tmp_path):
    with pytest.raises(ValueError, match="serving_default"):
        write_saved_model(tmp_path / "export", {"other": Signature(lambda: {}, [])}, [], "toy")
    assert not (tmp_path / "export").exists()


def test_a_failed_export_leaves_no_folder(tmp_path):
    def broken(values):
        raise RuntimeError("tracing failed")

    signatures = {"serving_default": Signature(broken, [tf.TensorSpec([None], tf.float32)])}
    with pytest.raises(RuntimeError):
        write_saved_model(tmp_path / "export", signatures, [], "toy")
    assert not (tmp_path / "export").exists()
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"


def test_exports_take_the_next_version_number(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(export, "export_run", lambda task, run, destination: made.append(destination) or destination)
    (tmp_path / "7").mkdir()
    (tmp_path / "notes").mkdir()
    first = export.export_next_version(None, tmp_path, tmp_path)
    first.mkdir()
    second = export.export_next_version(None, tmp_path, tmp_path)
    assert [path.name for path in made] == ["8", "9"] and second == tmp_path / "9"
