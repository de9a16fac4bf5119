"""The strategy every run trains under, the cluster in `TF_CONFIG`, and the one epoch loop
every run trains with (`run_epochs`): one process, several local GPUs, several machines.

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'  python main.py train sentiment

Every worker runs the same command with its own `index`; worker 0 is the chief (or the
task of type "chief", when the cluster names one). Each reads its own shard of the data
and takes a replica's share of the global batch; the gradients are summed across all
replicas at every step, so every worker ends with the same weights.

Why a loop of our own: Keras 3's `model.fit` stops under MultiWorkerMirroredStrategy
(keras-team/keras#20585), but the strategy works when the step is ours. `run_epochs`
calls Keras's own `model.train_step` / `model.test_step` (the compiled loss, loss
scaling under mixed precision, the optimizer, the compiled metrics) in `strategy.run`,
and drives the same Keras callbacks `model.fit` would (progress bar, history CSV, the
best epoch, early stopping, TensorBoard, backup and restore). One process (the default
strategy, or MirroredStrategy over local GPUs) trains through the same loop, so there
is one training-step path, not a second copy of it.
"""

import functools
import json
import os
import shutil
import socket
import time
from pathlib import Path

import keras
import tensorflow as tf

from common.errors import UserError, WorkerLost


def read_cluster() -> dict:
    """The cluster `TF_CONFIG` describes, checked: {"workers": count, "index": this
    task's place among them (the chief first), "chief": whether this task is the chief}.
    No or an empty `TF_CONFIG` is one worker. A bad one is a one-line UserError."""
    text = os.environ.get("TF_CONFIG") or "{}"
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG is not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(tf_config, dict) or not isinstance(tf_config.get("cluster", {}), dict):
        raise UserError('TF_CONFIG must be {"cluster": {"worker": [...]}, "task": {"type": ..., "index": ...}}')
    cluster = tf_config.get("cluster", {})
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise UserError(f"TF_CONFIG names {', '.join(unknown)} jobs; only chief and worker are used here")
    chiefs, workers = cluster.get("chief", []), cluster.get("worker", [])
    if not all(isinstance(part, list) for part in (chiefs, workers)) or len(chiefs) > 1:
        raise UserError('TF_CONFIG: "worker" must be a list of host:port and "chief" a list of at most one')
    count = len(chiefs) + len(workers)
    if count <= 1:
        return {"workers": 1, "index": 0, "chief": True}
    task = tf_config.get("task") or {}
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise UserError(
            f'TF_CONFIG\'s "task" must name this process: a type of {" or ".join(sorted(cluster))} and an index '
            f"into its list (got type {kind!r}, index {index!r})"
        )
    place = index if kind == "chief" else len(chiefs) + index
    return {"workers": count, "index": place, "chief": place == 0}


def make_strategy(cluster: dict, startup_timeout: float = 600.0) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy for several workers (made before any other TensorFlow
    work: it sets up the collective ops; the chief first waits at most `startup_timeout`
    seconds for the other workers), MirroredStrategy for several local GPUs, else the
    default strategy (CPU or one GPU)."""
    if cluster["workers"] > 1:
        if cluster["chief"]:
            wait_for_workers(startup_timeout)
        return multi_worker_strategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@functools.cache
def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """One per process: its collective ops are set up once, when it is first made. Making
    it starts this worker's server, then returns once every worker has made its own."""
    return tf.distribute.MultiWorkerMirroredStrategy()


def wait_for_workers(startup_timeout: float) -> None:
    """The chief: say it waits, then wait until every other worker's server accepts
    connections, or stop with one line after `startup_timeout` seconds. Without this the
    strategy waits for a missing worker inside TensorFlow, silently and with no limit
    (its own start-up timeout does not cover a worker that never came up). The other
    workers do not wait here: each starts its server at once, which is what the chief
    looks for."""
    waiting = other_workers()
    count = len(waiting)
    print(
        f"the chief: waiting for {count} other worker{'s' if count > 1 else ''} to start (at most "
        f"{startup_timeout:g} s, startup_timeout=): {', '.join(waiting)}",
        flush=True,
    )
    deadline = time.monotonic() + startup_timeout
    while True:
        waiting = [address for address in waiting if not listening(address)]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise UserError(
                f"{len(waiting)} of {count} other worker(s) did not start within {startup_timeout:g} s "
                f"({', '.join(waiting)}); start every worker with the same command, or raise startup_timeout="
            )
        time.sleep(0.5)


def other_workers() -> list[str]:
    """host:port of every task in `TF_CONFIG` but this one (read_cluster checked it)."""
    tf_config = json.loads(os.environ["TF_CONFIG"])
    cluster, task = tf_config["cluster"], tf_config["task"]
    return [
        address
        for kind in ("chief", "worker")
        for index, address in enumerate(cluster.get(kind, []))
        if (kind, index) != (task["type"], task["index"])
    ]


def listening(address: str) -> bool:
    """Whether a server accepts TCP connections at host:port (a worker that has started)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


def is_multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_folder(runs_root: Path, task: str, config_hash: str, index: int) -> Path:
    """Where a worker that is not the chief writes its own backups, history and best
    weights (the fault-tolerance guide's temporary place): hidden under the task's runs,
    the same for every restart of that worker, removed when training ends."""
    return Path(runs_root) / task / ".workers" / f"{config_hash}-worker-{index}"


def distribute(strategy, make_dataset):
    """A dataset read by every worker in shards: `make_dataset(input_context)` builds this
    worker's pipeline, batched at the replica's share of the global batch."""
    return strategy.distribute_datasets_from_function(make_dataset)


def split_batches(strategy, dataset):
    """One process: a dataset batched at the global batch, each batch split among the
    local replicas (as `model.fit` does under MirroredStrategy); with one replica (the
    default strategy) the dataset itself."""
    if strategy.num_replicas_in_sync == 1:
        return dataset
    return strategy.experimental_distribute_dataset(dataset)


def known_steps(dataset):
    """The batches in an epoch of a plain dataset when tf.data knows them, else None
    (bucketed datasets, distributed ones): the progress bar then learns the count in
    the first epoch, as `model.fit`'s does."""
    if not isinstance(dataset, tf.data.Dataset):
        return None
    count = int(dataset.cardinality())
    return count if count >= 0 else None


def replica_function(strategy, step, element_spec):
    """`step` (Keras's train_step or test_step) on every replica, in one tf.function traced
    once for the dataset's `element_spec` (bucketed batches vary in length). The logs
    returned are this worker's running values; an epoch's are read from the metrics."""

    @tf.function(input_signature=[element_spec])
    def run(batch):
        logs = strategy.run(lambda data: step(tf.nest.map_structure(widen_if_empty, data)), args=(batch,))
        return {name: strategy.experimental_local_results(value)[0] for name, value in logs.items()}

    return run


def widen_if_empty(tensor):
    """A worker whose shard ran out while others still read gets an empty batch; make its
    later axes at least 1 long (an RNN reads the first time step even of no rows). The
    empty batch adds nothing to the loss or the metrics; other tensors pass unchanged."""
    if not isinstance(tensor, tf.Tensor) or tensor.shape.rank is None or tensor.shape.rank < 2:
        return tensor
    shape = tf.shape(tensor)
    empty = tf.cast(tf.equal(shape[0], 0), tf.int32)
    after = tf.concat([[0], empty * tf.maximum(0, 1 - shape[1:])], axis=0)
    return tf.pad(tensor, tf.stack([tf.zeros_like(after), after], axis=1))


def metric_logs(model) -> dict:
    """The model's metrics summed over every replica of every worker (a collective: all
    workers read them at the same point), as floats."""
    return {name: float(value) for name, value in model.get_metrics_result().items()}


def build_for_training(model, strategy, dataset) -> None:
    """Create the compiled loss's, metrics' and optimizer's variables before the first step
    (inside a step they could not be made under the strategy), as `model.fit` does."""
    # One replica's batch spec (several local replicas give a PerReplicaSpec of them).
    spec = tf.nest.map_structure(lambda part: getattr(part, "_value_specs", [part])[0], dataset.element_spec)
    with strategy.scope():
        model._symbolic_build(data_batch=spec)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


# What a step raises on the other workers when one is gone (its socket closed, or the
# collective timed out).
LOST = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError)


def run_epochs(model, strategy, train, validation, epochs: int, callbacks: list, verbose: int) -> None:
    """`model.fit(train, validation_data=validation, epochs=epochs, shuffle=False)` under
    `strategy`: the same epochs, logs and callback calls. The datasets are as the strategy
    reads them: plain ones for the default strategy, `split_batches` for several local
    replicas, `distribute` for several workers."""
    build_for_training(model, strategy, train)
    callbacks = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=known_steps(train),
        model=model,
    )
    train_step = replica_function(strategy, model.train_step, train.element_spec)
    test_step = replica_function(strategy, model.test_step, validation.element_spec)
    model.stop_training = False
    callbacks.on_train_begin()  # BackupAndRestore restores this worker's backup
    logs = {}
    try:
        start = first_epoch(model, strategy, callbacks)
        skip_data_orders(train, start)
        for epoch in range(start, epochs):
            logs = run_epoch(model, epoch, train_step, train, test_step, validation, callbacks)
            if model.stop_training:
                break
    except LOST as error:
        if not is_multi_worker(strategy):
            raise
        raise WorkerLost(
            f"another worker was lost ({type(error).__name__}); start every worker again with the same command: "
            "training resumes from the last epoch backup"
        ) from None
    callbacks.on_train_end(logs)


def first_epoch(model, strategy, callbacks) -> int:
    """The epoch training starts from: in one process, the one its backup restored. With
    several workers, each restored its own backup; a worker killed between two workers'
    backups of one epoch leaves the others one epoch ahead of it, and they go back to
    their previous backup (BackupAndRestore keeps it) to match."""
    restored = model._initial_epoch or 0  # BackupAndRestore sets it
    if not is_multi_worker(strategy):
        return restored  # one process: one backup
    everyone = strategy.run(lambda: tf.distribute.get_replica_context().all_gather(tf.constant([restored]), axis=0))
    agreed = int(tf.reduce_min(strategy.experimental_local_results(everyone)[0]))
    if agreed == restored:
        return agreed
    backup = next(
        callback for callback in callbacks.callbacks if isinstance(callback, keras.callbacks.BackupAndRestore)
    )
    previous = Path(backup._prev_training_metadata_path)
    if not previous.exists() or json.loads(previous.read_text())["epoch"] != agreed:
        raise RuntimeError(
            f"this worker's backup is of epoch {restored}, another's of epoch {agreed}, and no backup here matches; "
            f"remove the folder {backup.backup_dir} on every worker to train the run again from its first epoch"
        )
    # Keras loads only files named .weights.h5: the previous backup becomes the latest.
    shutil.copyfile(backup._prev_weights_path, backup._weights_path)
    shutil.copyfile(previous, backup._training_metadata_path)
    model.load_weights(backup._weights_path)
    print(f"going back to the backup of epoch {agreed}, where another worker resumes")
    return agreed


def skip_data_orders(train, epochs: int) -> None:
    """Move the training data on to the order of epoch `epochs`, as an uninterrupted run
    would read it: a resumed run then sees the same batches in the same order.

    tf.data draws a new shuffle (and new random windows) each time a dataset is iterated,
    from a seeded sequence; a fresh process starts that sequence again. Starting one
    iterator per skipped epoch and reading its first batch draws those epochs' orders."""
    for _ in range(epochs):
        next(iter(train), None)


def run_epoch(model, epoch, train_step, train, test_step, validation, callbacks) -> dict:
    """One epoch of training and validation; its logs, as `model.fit` gives them."""
    model.reset_metrics()
    callbacks.on_epoch_begin(epoch)
    for step, batch in enumerate(train):
        callbacks.on_train_batch_begin(step)
        callbacks.on_train_batch_end(step, train_step(batch))
    logs = metric_logs(model)
    logs.update({f"val_{name}": value for name, value in evaluate(model, test_step, validation, callbacks).items()})
    callbacks.on_epoch_end(epoch, logs)
    return logs


def evaluate(model, test_step, dataset, callbacks) -> dict:
    """One pass over the validation data, with the callbacks' test hooks."""
    model.reset_metrics()
    callbacks.on_test_begin()
    for step, batch in enumerate(dataset):
        callbacks.on_test_batch_begin(step)
        callbacks.on_test_batch_end(step, test_step(batch))
    logs = metric_logs(model)
    callbacks.on_test_end(logs)
    return logs
