"""Training shared by every task: devices, seeds, precision, and `model.fit` with callbacks."""

import json
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common.errors import UserError


def get_strategy() -> tf.distribute.Strategy:
    """The distribution strategy to build and compile every model under.

    Several GPUs: MirroredStrategy (the global batch is `batch_size` times the replica
    count); otherwise the default strategy (CPU or one GPU). Several workers in
    `TF_CONFIG` are refused with a clear message: Keras 3's `model.fit` fails under
    MultiWorkerMirroredStrategy (keras-team/keras#20585; a slow test tracks it).
    """
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    if len(workers) > 1:
        raise UserError(
            f"TF_CONFIG names {len(workers)} workers, but Keras 3's model.fit does not run under "
            "MultiWorkerMirroredStrategy (keras-team/keras#20585); train on one machine (all its GPUs are used)"
        )
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow; op determinism stays off (it slows GPUs)."""
    keras.utils.set_random_seed(seed)


def set_precision(mixed: bool) -> None:
    """`mixed_float16` when asked (GPU); build output layers with dtype="float32"."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")


def make_optimizer(config) -> keras.optimizers.Optimizer:
    """Adam with gradient clipping by global norm (on by default: RNNs explode)."""
    return keras.optimizers.Adam(learning_rate=config.learning_rate, global_clipnorm=config.clipnorm or None)


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` to the logs, so the history records training time."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.started


def best_so_far(history_path: Path, monitor: str, mode: str = "min"):
    """Best value of `monitor` (lowest, or highest with mode="max") in an earlier,
    interrupted part of the run."""
    if not history_path.exists():
        return None
    import pandas

    history = pandas.read_csv(history_path)
    if monitor not in history or not len(history):
        return None
    return float(history[monitor].max() if mode == "max" else history[monitor].min())


def fit(model, train, validation, config, run_path: Path, monitor="val_loss", mode="min", extra_callbacks=()):
    """Train with validation, early stopping, checkpoints, TensorBoard and CSV history.

    Resumes after a crash: BackupAndRestore restores weights, optimizer and epoch from
    `run_path/backup`, and the best checkpoint keeps its best value across the crash.
    At the end the model holds the best weights seen on validation data: lowest
    `monitor`, or highest with `mode="max"` (for scores such as F1).
    """
    best_path = run_path / "checkpoints" / "best.weights.h5"
    best_path.parent.mkdir(parents=True, exist_ok=True)
    history_path = run_path / "history.csv"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_path / "backup")),
        EpochTimer(),
        keras.callbacks.ModelCheckpoint(
            str(best_path),
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best_so_far(history_path, monitor, mode),
        ),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.patience, restore_best_weights=True),
        keras.callbacks.TensorBoard(str(run_path / "tensorboard")),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        *extra_callbacks,
    ]
    verbose = config.verbose if config.verbose == "auto" else int(config.verbose)
    with warnings.catch_warnings():
        # Bucketed datasets have no known length, so Keras learns the epoch size in
        # the first epoch and warns that the data "ran out"; that is expected here.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        model.fit(
            train, validation_data=validation, epochs=config.epochs, callbacks=callbacks, verbose=verbose, shuffle=False
        )
    if best_path.exists():
        model.load_weights(str(best_path))
    return read_history(history_path)


def read_history(history_path: Path):
    """The run's history as a DataFrame, one row per epoch (a rerun epoch keeps its last row)."""
    import pandas

    history = pandas.read_csv(history_path)
    return history.drop_duplicates(subset="epoch", keep="last").reset_index(drop=True)


def throughput(history, train_examples: int) -> dict:
    """Training seconds and examples per second, from the recorded epoch times."""
    seconds = float(np.sum(history["epoch_seconds"])) if "epoch_seconds" in history else float("nan")
    return {
        "epochs": int(len(history)),
        "training_seconds": round(seconds, 2),
        "examples_per_second": round(train_examples * len(history) / seconds, 1) if seconds else None,
    }


def train_and_export(task, config, data):
    """The shape every task's `make train` shares once its data are loaded.

    Opens the run folder (or resumes the unfinished one with this config), lets the task
    save its inputs and fit (`task.save_inputs`, `task.train_one`), writes metrics.json,
    the Keras model and the SavedModel (`task.export`), and moves the finished run into
    place. Bad input found on the way removes the run; a crash keeps it for resuming.
    Returns the run's folder and its metrics.
    """
    from common import reports, runs

    reports.print_data_summary(data.summary)
    run = runs.start_run(task.TASK, config)
    if run.resumed:
        print(f"resuming unfinished run {run.run_id}")
    with run.discarded_on_user_error():
        task.save_inputs(config, data, run.path)
        model, metrics = task.train_one(config, data, run.path, get_strategy())
        metrics["data"] = data.summary
        reports.write_json(metrics, run.path / "metrics.json")
        model.save(run.path / "model.keras")
        task.export(model, data, config, run.path / "export")
    return run.finish(), metrics
