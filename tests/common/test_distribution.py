"""Distribution on CPU: two mirrored replicas, and several workers on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common import distribution
from common.errors import UserError
from common.resume import read_history
from tests.helpers import finished_runs
from tests.tasks.sentiment.toy import review_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]

MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from pathlib import Path
from common import distribution, trainer
from common.config import apply_overrides
from tasks.sentiment import data, model as sentiment_model
from tasks.sentiment.config import Config
rows = [("the film was good great", "pos"), ("the film was bad awful dull", "neg")] * 200
with open(sys.argv[1], "w") as handle:
    handle.write("text,label\\n" + "".join(f"{text},{label}\\n" for text, label in rows))
config = apply_overrides(Config(), [f"dataset={sys.argv[1]}", "units=8", "embedding_dim=8", "verbose=0", "epochs=2"])
task_data = data.load_data(config)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = sentiment_model.build_model(config, task_data.assets)
datasets = data.make_datasets(config, task_data, config.batch_size * strategy.num_replicas_in_sync)
split = {part: distribution.split_batches(strategy, datasets[part]) for part in ("train", "validation")}
before = [weight.copy() for weight in model.get_weights()]
history = trainer.fit(model, split["train"], split["validation"], config, Path(sys.argv[2]), strategy=strategy)
changed = any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
largest_batch = max(int(ids.shape[0]) for ids, _ in datasets["train"])
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "changed": changed, "largest_batch": largest_batch,
                  "epochs": len(history), "val_loss": list(history["val_loss"])}))
"""

# Two workers (or one process, without TF_CONFIG) train the same toy model through
# trainer.fit on the same global batches: each worker reads its own shard (even or odd
# rows) at half the global batch of 32, so worker 0 and 1 together see rows 0-31, 32-63, ...
TOY_FIT = """
import json, sys
from pathlib import Path
from common import distribution, runtime, trainer
from common.config import TrainConfig
strategy = runtime.get_strategy()
runtime.set_precision(sys.argv[3:] == ["mixed"])
import keras, numpy as np, tensorflow as tf
keras.utils.set_random_seed(0)
with strategy.scope():
    ids = keras.Input((None,), dtype="int32")
    hidden = keras.layers.LSTM(8)(keras.layers.Embedding(20, 8, mask_zero=True)(ids))
    model = keras.Model(ids, keras.layers.Dense(2, activation="softmax", dtype="float32")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
rows = np.random.default_rng(0).integers(1, 20, size=(128, 6)).astype("int32")
rows[::3, 4:] = 0  # some shorter rows: padding, masked
labels = (rows[:, 0] > 10).astype("int32")
def pipeline(context=None):
    dataset = tf.data.Dataset.from_tensor_slices((rows, labels))
    if context is None:
        return dataset.batch(32)
    dataset = dataset.shard(context.num_input_pipelines, context.input_pipeline_id)
    return dataset.batch(context.get_per_replica_batch_size(32))
data = distribution.distribute(strategy, pipeline) if distribution.is_multi_worker(strategy) else pipeline()
config = TrainConfig(epochs=int(sys.argv[2]), verbose="0", patience=5, clipnorm=0)
history = trainer.fit(model, data, data, config, Path(sys.argv[1]), strategy=strategy)
print(json.dumps({"weights": [w.tolist() for w in model.get_weights()], "val_loss": list(history["val_loss"]),
                  "optimizer": type(model.optimizer).__name__, "scale": float(model.optimizer.scale_loss(1.0))}))
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


def test_sentiment_trains_through_the_loop_on_two_mirrored_replicas(tmp_path):
    process = run_python(MIRRORED, tmp_path / "toy.csv", tmp_path / "run")
    output, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors[-2000:]
    result = json.loads(output.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["changed"]
    assert result["largest_batch"] == 2 * 32  # the global batch grows with the replicas
    # trained through trainer.fit's loop (run_epochs), each global batch split in two
    assert result["epochs"] == 2 and all(np.isfinite(result["val_loss"]))
    assert (tmp_path / "run" / "history.csv").exists()


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("{not json", "TF_CONFIG is not JSON"),
        ('{"cluster": {"ps": ["a:1"], "worker": ["b:1"]}}', "only chief and worker"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', "must name this process"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}}', "must name this process"),
        ('{"cluster": {"worker": "a:1"}}', "must be a list"),
    ],
)
def test_a_bad_tf_config_is_one_clear_line(monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserError, match=message) as error:
        distribution.read_cluster()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "cluster, task, expected",
    [
        ({}, {}, {"workers": 1, "index": 0, "chief": True}),
        ({"worker": ["a:1"]}, {"type": "worker", "index": 0}, {"workers": 1, "index": 0, "chief": True}),
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, {"workers": 2, "index": 1, "chief": False}),
        (
            {"chief": ["c:1"], "worker": ["a:1"]},
            {"type": "worker", "index": 0},
            {"workers": 2, "index": 1, "chief": False},
        ),
        (
            {"chief": ["c:1"], "worker": ["a:1"]},
            {"type": "chief", "index": 0},
            {"workers": 2, "index": 0, "chief": True},
        ),
    ],
)
def test_the_chief_is_worker_0_or_the_named_chief(monkeypatch, cluster, task, expected):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert distribution.read_cluster() == expected


def test_an_empty_batch_gets_a_time_step_and_a_full_one_is_unchanged():
    import tensorflow as tf

    empty = distribution.widen_if_empty(tf.zeros([0, 0], tf.int32))
    assert empty.shape == (0, 1) and empty.dtype == tf.int32
    assert distribution.widen_if_empty(tf.zeros([0, 0, 3])).shape == (0, 1, 3)
    full = tf.constant([[1, 2, 0]])
    np.testing.assert_array_equal(distribution.widen_if_empty(full), full)
    labels = tf.zeros([0], tf.int32)
    assert distribution.widen_if_empty(labels) is labels


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_environments(count: int, **extra) -> list[dict]:
    """TF_CONFIG for `count` workers on 127.0.0.1, one environment per worker."""
    workers = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    return [
        dict(extra, TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        for index in range(count)
    ]


def last_json(process, timeout=300):
    output, errors = process.communicate(timeout=timeout)
    assert process.returncode == 0, errors[-3000:]
    return json.loads(output.strip().splitlines()[-1])


def test_two_workers_with_different_data_match_each_other_and_one_process(tmp_path):
    one = run_python(TOY_FIT, tmp_path / "one", 3, environment={"TF_CONFIG": ""})
    workers = [
        run_python(TOY_FIT, tmp_path / f"worker-{index}", 3, environment=environment)
        for index, environment in enumerate(worker_environments(2))
    ]
    first, second = (last_json(process) for process in workers)
    single = last_json(one)
    # The gradients were summed across the workers: the same weights on both, bit for bit.
    assert first == second
    # ... and the same training as one process reading the same global batches.
    for distributed, alone in zip(first["weights"], single["weights"]):
        np.testing.assert_allclose(distributed, alone, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first["val_loss"], single["val_loss"], rtol=1e-4)
    # Each worker kept its own history, best weights and backup where it was told.
    for index in range(2):
        assert (tmp_path / f"worker-{index}" / "checkpoints" / "best.weights.h5").exists()
        assert len(read_history(tmp_path / f"worker-{index}" / "history.csv")) == 3


def train_sentiment(folder, data, environment):
    """`main.py train sentiment` on toy data as one worker; runs go to folder/runs."""
    environment = dict(os.environ, RNN_SUITE_RUNS=str(folder / "runs"), TF_CPP_MIN_LOG_LEVEL="3", **environment)
    environment.setdefault("RNN_SUITE_KILL_AT", "")
    options = ["epochs=3", "units=8", "embedding_dim=8", "batch_size=16", "verbose=2", "patience=5", "dropout=0.0"]
    return subprocess.Popen(
        [sys.executable, "main.py", "train", "sentiment", f"dataset={data}", *options],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_killed_worker_started_again_finishes_the_run_and_only_the_chief_writes_it(tmp_path):
    data = write_csv(tmp_path / "reviews.csv", review_rows(400))
    # Worker 1 is killed in its second epoch (16 steps an epoch); worker 0 loses it and stops.
    environments = worker_environments(2)
    environments[1]["RNN_SUITE_KILL_AT"] = "batch:20"
    first = [train_sentiment(tmp_path, data, environment) for environment in environments]
    results = [(process.wait(timeout=300), process.communicate()[1]) for process in first]
    assert results[1][0] == -9 and results[0][0] == 1
    assert results[0][1].strip().splitlines()[-1].startswith("error: another worker was lost")
    # As a cluster launcher would: both workers started again with the same command.
    again = [train_sentiment(tmp_path, data, environment) for environment in worker_environments(2)]
    outputs = [process.communicate(timeout=300) for process in again]
    assert [process.returncode for process in again] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    chief_out, worker_out = outputs[0][0], outputs[1][0]
    assert "resuming unfinished run" in chief_out and "Epoch 1/3" not in chief_out  # from the epoch backup
    assert "Epoch 1/3" not in worker_out and "the chief (worker 0) writes the run" in worker_out
    # One finished run, written by the chief; nothing left by the other worker.
    root = tmp_path / "runs" / "sentiment"
    runs = finished_runs(tmp_path / "runs", "sentiment")
    assert len(runs) == 1 and (runs[0] / "export" / "saved_model.pb").exists()
    assert list(read_history(runs[0] / "history.csv")["epoch"]) == [0, 1, 2]
    assert not (root / ".workers").exists() and not list((root / ".incomplete").iterdir())


@pytest.mark.slow
def test_workers_whose_backups_differ_by_an_epoch_resume_from_the_same_one(tmp_path):
    def train(epochs):
        workers = [
            run_python(TOY_FIT, tmp_path / f"worker-{index}", epochs, environment=environment)
            for index, environment in enumerate(worker_environments(2))
        ]
        return [last_json(process) for process in workers]

    train(2)
    # As if worker 1 was killed after worker 0 backed up epoch 2 but before it did: its
    # last backup is its previous one, of epoch 1.
    backup = tmp_path / "worker-1" / "backup"
    for name in ("training_metadata.json", "latest.weights.h5"):
        (backup / name).write_bytes((backup / f"{name}.bkp").read_bytes())
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    first, second = train(3)
    assert first == second  # worker 0 went back to its epoch-1 backup: both trained epochs 2 and 3 again


@pytest.mark.slow
def test_two_workers_in_mixed_precision_scale_the_loss_and_stay_identical(tmp_path):
    workers = [
        run_python(TOY_FIT, tmp_path / f"worker-{index}", 2, "mixed", environment=environment)
        for index, environment in enumerate(worker_environments(2))
    ]
    first, second = (last_json(process) for process in workers)
    assert first == second and first["optimizer"] == "LossScaleOptimizer" and first["scale"] > 1
    assert first["val_loss"][1] < first["val_loss"][0]  # finite, and it learns


def test_skipping_data_orders_gives_a_fresh_dataset_the_order_an_uninterrupted_run_reads():
    import tensorflow as tf

    def shuffled():
        tf.random.set_seed(7)
        return tf.data.Dataset.range(20).shuffle(20, seed=3, reshuffle_each_iteration=True).batch(5)

    uninterrupted = shuffled()
    orders = [[int(x) for batch in uninterrupted for x in batch] for _ in range(3)]
    assert orders[0] != orders[2]
    resumed = shuffled()
    distribution.skip_data_orders(resumed, 2)
    assert [int(x) for batch in resumed for x in batch] == orders[2]


def test_a_chief_whose_worker_never_starts_says_so_and_gives_up_after_the_start_up_timeout(tmp_path):
    # The reported failure: the chief waited silently (over 150 s) with no time limit.
    data = write_csv(tmp_path / "reviews.csv", review_rows(40))
    chief = worker_environments(2)[0]  # worker 1 is never started
    process = subprocess.Popen(
        [sys.executable, "main.py", "train", "sentiment", f"dataset={data}", "startup_timeout=3", "verbose=0"],
        cwd=ROOT,
        env=dict(os.environ, RNN_SUITE_RUNS=str(tmp_path / "runs"), TF_CPP_MIN_LOG_LEVEL="3", **chief),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err[-2000:]
    assert "the chief: waiting for 1 other worker to start (at most 3 s" in out
    assert err.strip().splitlines()[-1].startswith("error: 1 of 1 other worker(s) did not start within 3 s")
    assert "Traceback" not in err
