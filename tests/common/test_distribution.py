"""Distribution on CPU: two mirrored replicas, and what happens with several workers."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common import trainer as training
from common.errors import UserError

ROOT = Path(__file__).resolve().parents[2]

MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from common.config import apply_overrides
from tasks.sentiment import data, model as sentiment_model
from tasks.sentiment.config import Config
rows = [("the film was good great", "pos"), ("the film was bad awful dull", "neg")] * 200
with open(sys.argv[1], "w") as handle:
    handle.write("text,label\\n" + "".join(f"{text},{label}\\n" for text, label in rows))
config = apply_overrides(Config(), [f"dataset={sys.argv[1]}", "units=8", "embedding_dim=8", "verbose=0"])
task_data = data.load_data(config)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = sentiment_model.build_model(config, task_data.assets)
datasets = data.make_datasets(config, task_data, config.batch_size * strategy.num_replicas_in_sync)
before = [weight.copy() for weight in model.get_weights()]
model.fit(datasets["train"], validation_data=datasets["validation"], epochs=1, verbose=0)
changed = any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
largest_batch = max(int(ids.shape[0]) for ids, _ in datasets["train"])
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "changed": changed, "largest_batch": largest_batch}))
"""

MULTI_WORKER = """
import json
import numpy as np, keras, tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss="mse")
features = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
model.fit(tf.data.Dataset.from_tensor_slices((features, features.sum(axis=1))).batch(16), epochs=1, verbose=0)
print(json.dumps([w.tolist() for w in model.get_weights()]))
"""


def run_python(code, *arguments, environment=None):
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **(environment or {}))
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, arguments)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sentiment_model_trains_on_two_mirrored_replicas(tmp_path):
    process = run_python(MIRRORED, tmp_path / "toy.csv")
    output, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors[-2000:]
    result = json.loads(output.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["changed"]
    assert result["largest_batch"] == 2 * 32  # the global batch grows with the replicas


def test_several_workers_get_a_clear_error(monkeypatch):
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    with pytest.raises(UserError, match="keras-team/keras#20585"):
        training.get_strategy()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="Keras 3 fit under MultiWorkerMirroredStrategy: keras-team/keras#20585")
def test_two_workers_on_localhost_train_in_sync():
    """Passes (and so fails as strict xfail) once Keras fixes multi-worker fit: then
    get_strategy can hand out MultiWorkerMirroredStrategy again."""
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = [
        run_python(
            MULTI_WORKER,
            environment={
                "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
            },
        )
        for index in range(2)
    ]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert json.loads(outputs[0].splitlines()[-1]) == json.loads(outputs[1].splitlines()[-1])
