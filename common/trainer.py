"""The one trainer: the shape every `make train`, `make export` and `make predict` shares.

    train(task, config):  data -> run folder -> fit -> metrics, plots -> model -> export -> finish

The task supplies parts through the contract in `common.task` and is never called back
as a module. Devices, seeds, precision, the optimizer and the epoch loop with its callbacks
(`distribution.run_epochs`, one path for one process and for several workers) live here
too, so every task trains the same way.
"""

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common import cells, distribution, reports, runs
from common.config import load_config, save_config
from common.embedding import UnfreezeEmbeddings, pretrained_summary
from common.errors import UserError
from common.export import load_export, write_saved_model
from common.failpoints import failpoint
from common.files import file_lock, is_disk_full, sha256_of, write_text_atomically
from common.task import Task, TaskData, load_assets, save_assets

# ---------------------------------------------------------------- devices, seeds, precision, optimizer


def get_strategy() -> tf.distribute.Strategy:
    """The distribution strategy to build and compile every model under.

    Several workers in `TF_CONFIG`: MultiWorkerMirroredStrategy; several GPUs:
    MirroredStrategy; otherwise the default strategy (CPU or one GPU). The global batch
    is `batch_size` times the replica count. See `common.distribution`.
    """
    return distribution.make_strategy(distribution.read_cluster())


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (the global seed also seeds tf.data's shuffles,
    so the data order is the seed's)."""
    keras.utils.set_random_seed(seed)


def set_determinism(deterministic: bool) -> None:
    """TensorFlow op determinism on (the default) or off. On, the same command gives the
    same result: without it, CPU float sums run in an order that varies with load and
    threads, and two runs of one seed drift apart within a few epochs. Called before any
    op runs, since ops already placed keep their kernels."""
    from tensorflow.python.framework import config as framework_config  # the public API can only enable

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        framework_config.disable_op_determinism()


def set_precision(mixed: bool) -> None:
    """`mixed_float16` when asked (GPU); build output layers with dtype="float32"."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")


def make_optimizer(config) -> keras.optimizers.Optimizer:
    """Adam with gradient clipping by global norm (on by default: RNNs explode)."""
    return keras.optimizers.Adam(learning_rate=config.learning_rate, global_clipnorm=config.clipnorm or None)


# ---------------------------------------------------------------- fit


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` to the logs, so the history records training time."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        failpoint("batch")  # a crash inside an epoch

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.started


class EpochRandomState(keras.callbacks.Callback):
    """Starts each epoch's random draws (dropout masks) from a state fixed by the seed and
    the epoch, so an epoch trained again after a resume draws the masks an uninterrupted
    run drew. The draws' state (Keras's seed generators) is not part of saved weights."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        # The generators' state variables are all named so; their order is the model's.
        states = [variable for variable in self.model.variables if variable.name == "seed_generator_state"]
        for index, state in enumerate(states):
            start = (self.seed * 1_000_003 + index * 10_007 + epoch * 101 + 1) % 2**31
            state.assign(np.array([start, 0], dtype=state.dtype))


def repair_history(history_path: Path) -> None:
    """Keep only the whole rows of a history cut short by a crash: a torn last line, an
    empty file or a torn header is dropped (atomically), with a line saying so."""
    if not history_path.exists():
        return
    lines = history_path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        history_path.unlink()
        print(f"{history_path.name}: empty or cut short by a crash; starting it again")
        return
    columns = lines[0].count(",")
    kept = [lines[0]] + [line for line in lines[1:] if is_whole_row(line, columns)]
    if len(kept) < len(lines):
        write_text_atomically(history_path, "".join(kept))
        print(f"{history_path.name}: dropped {len(lines) - len(kept)} line(s) cut short by a crash")


def is_whole_row(line: str, columns: int) -> bool:
    if not line.endswith("\n") or line.count(",") != columns:
        return False
    try:
        [float(value) for value in line.strip().split(",") if value]
    except ValueError:
        return False
    return True


BACKUP_FILES = ("training_metadata.json", "latest.weights.h5")  # the epoch record, the weights


class EpochBackup(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore (the previous backup kept beside the latest), written so
    that a resume can tell whether a backup is whole: the weights go to a staging file
    and are renamed into place, and the epoch record, written atomically, names the
    weights' SHA-256. A record and weights from different epochs (a crash between the
    two writes) or a file torn by a full disk then never pass `check_backup`."""

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)

    def _save_model(self):
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / "staging.weights.h5"  # Keras wants the .weights.h5 ending
        with naming_the_file(staging):
            self.model.save_weights(str(staging), overwrite=True)
        record = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights_sha256": sha256_of(staging)}
        # The previous pair is moved aside whole; `check_backup` pairs records with weights.
        for latest, previous in self.pairs()[::-1]:
            if latest.exists():
                os.replace(latest, previous)
        failpoint("backup")  # a crash between the two backups
        write_text_atomically(folder / BACKUP_FILES[0], json.dumps(record))
        os.replace(staging, folder / BACKUP_FILES[1])

    def pairs(self) -> list[tuple[Path, Path]]:
        """(latest, previous) for the epoch record and for the weights."""
        return [
            (Path(self._training_metadata_path), Path(self._prev_training_metadata_path)),
            (Path(self._weights_path), Path(self._prev_weights_path)),
        ]


def check_backup(backup_dir: Path) -> bool:
    """Make the epoch backup usable before `fit` reads it: the newest whole pair of an
    epoch record and the weights it names (each loaded, not just found) becomes the
    latest backup. A backup cut short by a crash or a full disk falls back to the one
    before it; with no whole pair the folder is removed and the run starts again from
    its first epoch. Says which in a line; returns False when the run starts again."""
    backup_dir = Path(backup_dir)
    if not backup_dir.exists() or not any(backup_dir.iterdir()):
        return True  # nothing backed up yet
    records = [backup_dir / BACKUP_FILES[0], backup_dir / f"{BACKUP_FILES[0]}.bkp"]
    weights = [backup_dir / BACKUP_FILES[1], backup_dir / f"{BACKUP_FILES[1]}.bkp"]
    whole = [(read_record(record), record, file) for record in records for file in weights if pairs_with(record, file)]
    if not whole:
        shutil.rmtree(backup_dir)
        print(
            f"the epoch backup in {backup_dir} is unreadable (cut short by a crash or a full disk); "
            "training this run again from its first epoch"
        )
        return False
    epoch, record, file = max(whole, key=lambda found: found[0]["epoch"])
    if (record, file) != (records[0], weights[0]):
        print(f"the last epoch backup in {backup_dir} was cut short; resuming from the one of epoch {epoch['epoch']}")
        for source, target in ((record, records[0]), (file, weights[0])):
            if source != target:
                shutil.copyfile(source, target)
    return True


def pairs_with(record: Path, weights: Path) -> bool:
    """Whether an epoch record is whole and names exactly these weights, which load."""
    saved = read_record(record)
    return (
        saved is not None
        and weights.is_file()
        and saved.get("weights_sha256") == sha256_of(weights)
        and readable_weights(weights)
    )


def read_record(path: Path) -> dict | None:
    """A backup's epoch record, or None where it is missing, torn or not one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("epoch"), int) else None


# Reads every array of a weights file, in a child process: a file torn by a full disk can
# crash HDF5 outright (a segfault), which must cost a check, not the run.
READ_EVERY_ARRAY = """
import sys, h5py
def read(name, item):
    if isinstance(item, h5py.Dataset):
        item[()]
with h5py.File(sys.argv[1], "r") as weights:
    weights.visititems(read)
"""


def readable_weights(path: Path) -> bool:
    """Whether a `.weights.h5` file loads: it opens and every array in it reads."""
    if not Path(path).is_file():
        return False
    try:
        check = subprocess.run([sys.executable, "-c", READ_EVERY_ARRAY, str(path)], capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0


def check_best_weights(best_path: Path, history_path: Path, monitor: str) -> bool:
    """Whether the best epoch's weights a resume will end with are whole. The history
    names epochs whose best weights were written; if those weights are torn or gone
    (a full disk, a damaged copy) nothing earlier holds them, so the run starts again
    from its first epoch (with op determinism it retrains to the same weights)."""
    if not history_path.exists():
        return True
    history = read_history(history_path)
    if monitor not in history or not len(history) or readable_weights(best_path):
        return True
    print(f"{best_path} is unreadable or missing; training this run again from its first epoch")
    return False


@contextlib.contextmanager
def naming_the_file(path: Path):
    """Turn a full disk met inside TensorFlow, Keras or HDF5 (which report it in their
    own words) into OSError(ENOSPC) naming `path`, which the command line prints in one
    line."""
    try:
        yield
    except Exception as error:
        if not is_disk_full(error):
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the best epoch so far and stops after `patience` epochs
    without a better `monitor` (early stopping).

    Written here rather than taken from Keras's ModelCheckpoint and EarlyStopping because
    a resumed run must go on exactly where it stopped: the state (best value, epochs
    since it) is rebuilt from the run's history, and the weights file is replaced
    atomically, so a crash never leaves half of it.
    """

    def __init__(self, path: Path, monitor: str, mode: str, patience: int, history=None):
        super().__init__()
        self.path, self.monitor, self.mode, self.patience = Path(path), monitor, mode, patience
        self.best, self.stale = None, 0
        for value in [] if history is None or monitor not in history else history[monitor]:
            self.record(float(value))

    def better(self, value: float) -> bool:
        return self.best is None or (value > self.best if self.mode == "max" else value < self.best)

    def record(self, value: float) -> bool:
        """Take one epoch's value; whether it is the best so far."""
        if self.better(value):
            self.best, self.stale = value, 0
            return True
        self.stale += 1
        return False

    @property
    def done(self) -> bool:
        return self.stale >= self.patience

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.record(float(value)):
            staging = self.path.with_name(f"staging.{self.path.name}")  # Keras wants .weights.h5
            with naming_the_file(staging):
                self.model.save_weights(staging)
            failpoint("best_weights")  # a crash while the best weights are written
            os.replace(staging, self.path)
        if self.done:
            self.model.stop_training = True
        failpoint("epoch_end")  # a crash after the epoch's backup, before its history row


def keras_verbosity(verbose: str) -> int:
    """`auto` is a progress bar on a terminal and one line per epoch in a log file
    (bar redraws would fill a log with hundreds of kilobytes)."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


def fit(
    model, train, validation, config, run_path: Path, monitor="val_loss", mode="min", extra_callbacks=(), strategy=None
):
    """Train with validation, early stopping, the best epoch's weights, TensorBoard and
    CSV history; at the end the model holds the best weights seen on validation data
    (lowest `monitor`, or highest with `mode="max"`, for scores such as F1).

    Every strategy trains through `distribution.run_epochs` (Keras's train and test steps
    in `strategy.run`, with the callbacks `model.fit` would drive): the default strategy
    (CPU, one GPU, `strategy` None) on plain datasets, MirroredStrategy over local GPUs
    and MultiWorkerMirroredStrategy on datasets as the strategy reads them
    (`training_datasets`). `model.fit` is not used: Keras 3's fails under several workers
    (keras-team/keras#20585), and one loop keeps every run on the same path.

    Resumes after a crash: a history or backup cut short is repaired first; the epoch
    backup restores weights, optimizer and epoch; early stopping and the best weights go
    on from the history; a run whose training had already ended is not trained again.
    """
    best_path = run_path / "checkpoints" / "best.weights.h5"
    best_path.parent.mkdir(parents=True, exist_ok=True)
    history_path = run_path / "history.csv"
    repair_history(history_path)
    whole = check_backup(run_path / "backup") and check_best_weights(best_path, history_path, monitor)
    if not whole:  # starting again: forget the lost epochs
        shutil.rmtree(run_path / "backup", ignore_errors=True)
        history_path.unlink(missing_ok=True)
        best_path.unlink(missing_ok=True)
    past = read_history(history_path) if history_path.exists() else None
    best_epoch = BestEpoch(best_path, monitor, mode, config.patience, past)
    trained = 0 if past is None else len(past)
    failpoint("before_fit")
    if trained >= config.epochs or best_epoch.done:
        print(f"training had finished before the interruption ({trained} epochs); going on from there")
    else:
        callbacks = [
            EpochTimer(),
            EpochRandomState(config.seed),
            UnfreezeEmbeddings(),
            # The task's own callbacks may add values to the epoch's logs: before they are used.
            *extra_callbacks,
            best_epoch,
            keras.callbacks.CSVLogger(str(history_path), append=True),
            keras.callbacks.TensorBoard(str(run_path / "tensorboard")),
            # Last, so an epoch is backed up only once its history row is written: a crash in
            # between redoes the epoch (its row is then replaced) rather than losing the row.
            # Kept after training (removed when the run finishes), so a crash after the last
            # epoch does not train again; double_checkpoint keeps the backup before it.
            EpochBackup(run_path / "backup"),
        ]
        strategy = strategy or tf.distribute.get_strategy()
        distribution.run_epochs(
            model, strategy, train, validation, config.epochs, callbacks, keras_verbosity(config.verbose)
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


# ---------------------------------------------------------------- the shape of a run


def fit_and_evaluate(task: Task, config, data: TaskData, run_path: Path, strategy) -> tuple[keras.Model, dict]:
    """Build the model under `strategy`, fit it, plot its learning curves and score it
    on held-out data; everything is written into `run_path`."""
    model, history = build_and_fit(task, config, data, run_path, strategy)
    if distribution.is_multi_worker(strategy):
        # The chief scores, saves and exports a copy made outside the strategy, as after
        # any single-process run (the strategy's variables need every worker to read).
        trained, model = model, task.build_model(config, data.assets)
        model.set_weights(trained.get_weights())
    reports.plot_learning_curves(history, run_path / "learning_curves.png", title=f"{task.name}: {model.name}")
    metrics = task.evaluate(model, config, data, run_path)
    metrics.update(throughput(history, data.train_examples))
    metrics["parameters"] = int(model.count_params())
    metrics.update(cells.speed_notes(model))  # cuDNN or not, a TCN's receptive field
    pretrained = pretrained_summary(model)
    if pretrained:
        metrics["pretrained_embeddings"] = pretrained
    return model, metrics


def build_and_fit(task: Task, config, data: TaskData, run_path: Path, strategy):
    """(model, history): the task's model built under `strategy` and fitted, with its
    files (history, best weights, backup, TensorBoard) in `run_path`."""
    with strategy.scope():
        model = task.build_model(config, data.assets)
    datasets = training_datasets(task, config, data, strategy)
    callbacks = task.callbacks(config, data)
    history = fit(
        model,
        datasets["train"],
        datasets["validation"],
        config,
        run_path,
        *task.monitoring(config),
        callbacks,
        strategy,
    )
    return model, history


def training_datasets(task: Task, config, data: TaskData, strategy) -> dict:
    """The train and validation pipelines at the global batch (per-replica batch times
    all replicas), as `strategy` reads them: one process splits each batch among its
    replicas (none to split on one device); several workers each read their own shard."""
    global_batch_size = config.batch_size * strategy.num_replicas_in_sync
    if not distribution.is_multi_worker(strategy):
        datasets = task.make_datasets(config, data, global_batch_size)
        return {part: distribution.split_batches(strategy, datasets[part]) for part in ("train", "validation")}

    def part_of(part):
        return lambda context: task.make_datasets(config, data, global_batch_size, context)[part]

    return {part: distribution.distribute(strategy, part_of(part)) for part in ("train", "validation")}


def prepare(task: Task, config):
    """Resolved, checked config with seeds and precision set: the start of every run."""
    config = task.prepare_config(config)
    config.validate()
    set_determinism(config.deterministic)
    set_seeds(config.seed)
    set_precision(config.mixed_precision)
    return config


def train(task: Task, config) -> Path:
    """`make train TASK=...`: data, run folder, fit, metrics, plots, model, export, finish.

    Running the same command again after a crash resumes the unfinished run. Bad input
    found on the way removes the run; any other failure keeps it for resuming.
    Returns the finished run's folder.
    """
    cluster = distribution.read_cluster()
    set_determinism(config.deterministic)  # before any op runs, the strategy's included
    # Then several workers set up their collective ops, before any other TensorFlow work.
    strategy = distribution.make_strategy(cluster, config.startup_timeout)
    config = prepare(task, config)
    if getattr(config, "folds", 0) > 1:
        if cluster["workers"] > 1:
            raise UserError("cross-validation (folds=) trains on one machine; unset TF_CONFIG for it")
        return cross_validate(task, config)
    data = task.load_data(config)
    reports.print_data_summary(data.summary)
    if not cluster["chief"]:
        return train_as_worker(task, config, data, strategy, cluster["index"])
    run = runs.start_run(task.name, config, cluster["workers"])
    if run.reused:
        return reuse_finished_run(task, run.final_path)
    if run.resumed:
        print(f"resuming unfinished run {run.run_id}")
    with run.discarded_on_user_error():
        save_config(config, run.path / "config.json")
        save_assets(data.assets, run.path / "assets.json")
        reports.write_json({"summary": data.summary}, run.path / "data.json")
        reports.write_json(data.splits, run.path / "splits.json")
        model, metrics = fit_and_evaluate(task, config, data, run.path, strategy)
        metrics["data"] = data.summary
        reports.write_json(metrics, run.path / "metrics.json")
        with naming_the_file(run.path / "model.keras"):
            model.save(run.path / "model.keras")
        failpoint("model_saved")
        with naming_the_file(run.path / "export"):
            write_export(task, model, config, data.assets, run.path / "export")
    shutil.rmtree(run.path / "backup", ignore_errors=True)  # only a resume needs it
    final_path = run.finish()
    print(task.result_line(metrics))
    print(f"run: {final_path}")
    return final_path


def reuse_finished_run(task: Task, final_path: Path) -> Path:
    """The run another process finished while this command waited for it: the same
    identity, so training it again would only make a duplicate."""
    print(f"run {final_path.name} was finished by the process this command waited for; using it")
    with contextlib.suppress(OSError, ValueError, KeyError):
        print(task.result_line(reports.read_json(final_path / "metrics.json")))
    print(f"run: {final_path}")
    return final_path


def train_as_worker(task: Task, config, data: TaskData, strategy, index: int) -> Path:
    """A worker other than the chief: it trains in step with the others and writes
    nothing into the run. Its backups, history and best weights go to its own folder
    (`distribution.worker_folder`), where a restarted worker resumes from them; the
    folder is removed when training ends. Returns that (removed) folder."""
    workers = distribution.read_cluster()["workers"]
    folder = distribution.worker_folder(runs.runs_root(), task.name, runs.config_hash(config, workers), index)
    folder.mkdir(parents=True, exist_ok=True)
    build_and_fit(task, config, data, folder, strategy)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # .workers/, once no worker has a folder in it
    print(f"worker {index}: training done; the chief (worker 0) writes the run")
    return folder


def cross_validate(task: Task, config) -> Path:
    """k-fold cross-validation: mean and spread of each main metric over the folds.
    Metrics only (no export); a rerun skips folds that already finished."""
    run = runs.start_run(task.name, config)
    if run.reused:
        return run.final_path
    save_config(config, run.path / "config.json")
    strategy = get_strategy()
    scores = {name: [] for name in task.main_metrics}
    summary = {}
    with run.discarded_on_user_error():
        for fold, data in enumerate(task.cross_validation(config), start=1):
            fold_path = run.path / f"fold-{fold}"
            metrics = finished_fold(fold_path)
            if metrics is None:
                print(f"fold {fold} of {config.folds}")
                fold_path.mkdir(exist_ok=True)
                set_seeds(config.seed + fold - 1)
                _, metrics = fit_and_evaluate(task, config, data, fold_path, strategy)
                reports.write_json(metrics, fold_path / "metrics.json")
                shutil.rmtree(fold_path / "backup", ignore_errors=True)
            for name in scores:
                scores[name].append(metrics[name])
            summary = data.summary
    results = {"folds": config.folds, "data": summary}
    results.update({name: reports.mean_and_spread(values) for name, values in scores.items()})
    reports.write_json(results, run.path / "metrics.json")
    final_path = run.finish()
    first = task.main_metrics[0]
    print(f"{config.folds}-fold {first} {results[first]['mean']:.4f} ± {results[first]['std']:.4f}; run: {final_path}")
    return final_path


def finished_fold(fold_path: Path) -> dict | None:
    """The metrics of a fold a previous run finished, or None (not finished, or its
    metrics.json unreadable: then the fold is trained again)."""
    try:
        return reports.read_json(fold_path / "metrics.json")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        print(f"{fold_path / 'metrics.json'} is unreadable; training that fold again")
        return None


# ---------------------------------------------------------------- export and predict


def write_export(task: Task, model, config, assets, path: Path) -> Path:
    """The run's SavedModel: the task's signatures, raw inputs in, readable answers out."""
    signatures, trackables = task.signatures(model, config, assets)
    return write_saved_model(path, signatures, trackables, task.name)


def export_run(task: Task, run_path: Path, destination: Path) -> Path:
    """`make export`: rebuild a finished run's SavedModel from its model and assets."""
    run_path = Path(run_path)
    config = load_config(task.Config, run_path / "config.json")
    assets = load_assets(task.Assets, run_path / "assets.json")
    model = task.load_model(run_path / "model.keras")
    return write_export(task, model, config, assets, destination)


def export_next_version(task: Task, run_path: Path, model_root: Path) -> Path:
    """`make export`: the run's SavedModel as the next numbered version under `model_root`
    (exports/<task>/, TF Serving's layout): the highest existing number plus one, chosen
    and written under a lock, so two exports at once never take the same number."""
    with file_lock(Path(model_root) / ".lock", wait=True):
        numbers = [int(path.name) for path in Path(model_root).iterdir() if path.name.isdigit()]
        return export_run(task, run_path, Path(model_root) / str(max(numbers, default=0) + 1))


def predict(task: Task, export_path: Path, inputs: list[str]) -> list[dict]:
    """`make predict`: the task's answers from an export, which needs no project code."""
    if not os.path.isdir(export_path):
        raise UserError(f"no SavedModel at {export_path}")
    return task.predict(load_export(export_path), inputs)
