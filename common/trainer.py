"""The one trainer: the shape every `make train` shares.

    train(task, config):  data -> run folder -> fit -> metrics, plots -> model -> export -> finish

The task supplies parts through the contract in `common.task` and never imports this
module. What a run is made of lives beside it: `common.runtime` (strategy, seeds,
determinism, precision), `common.callbacks` (epoch timer, dropout state, best epoch),
`common.resume` (crash repair before a resume reads anything), `common.export` (the
run's SavedModel) and `common.distribution` (the epoch loop, one path for one process
and for several workers), so every task trains the same way.
"""

import contextlib
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common import cells, distribution, reports, runs
from common.callbacks import BestEpoch, EpochRandomState, EpochTimer
from common.config import save_config
from common.embedding import UnfreezeEmbeddings, pretrained_summary
from common.errors import UserError
from common.export import write_export
from common.failpoints import failpoint
from common.files import naming_the_file
from common.resume import EpochBackup, check_backup, check_best_weights, read_history, repair_history
from common.runtime import get_strategy, prepare, set_determinism, set_seeds
from common.task import Task, TaskData, save_assets

# ---------------------------------------------------------------- fit


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
