import errno
import json
import shutil
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from common import trainer
from common.config import TrainConfig


def toy_model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", dtype="float32")(inputs))
    model.compile(optimizer=trainer.make_optimizer(TrainConfig()), loss="sparse_categorical_crossentropy")
    return model


def toy_data(count=64):
    features = np.random.default_rng(0).normal(size=(count, 4)).astype("float32")
    labels = (features[:, 0] > 0).astype("int32")
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(16)


def test_default_strategy_on_one_cpu(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"index": 0}}))
    strategy = trainer.get_strategy()
    assert strategy.num_replicas_in_sync == 1 and strategy is tf.distribute.get_strategy()


def test_optimizer_clips_by_global_norm_unless_turned_off():
    assert trainer.make_optimizer(TrainConfig()).global_clipnorm == 1.0
    assert trainer.make_optimizer(TrainConfig(clipnorm=0)).global_clipnorm is None


def test_mixed_precision_policy_is_set_and_reset():
    try:
        trainer.set_precision(True)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        trainer.set_precision(False)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_fit_changes_weights_and_writes_history(tmp_path):
    model = toy_model()
    before = [weight.copy() for weight in model.get_weights()]
    history = trainer.fit(model, toy_data(), toy_data(), TrainConfig(epochs=3, verbose="0"), tmp_path)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    assert list(history["epoch"]) == [0, 1, 2] and "epoch_seconds" in history
    assert (tmp_path / "checkpoints" / "best.weights.h5").exists()
    assert list((tmp_path / "tensorboard").iterdir())
    stats = trainer.throughput(history, 64)
    assert stats["epochs"] == 3 and stats["examples_per_second"] > 0


def test_a_task_callback_adds_a_score_that_is_monitored_and_recorded(tmp_path):
    class ExactScore(keras.callbacks.Callback):
        """Stands in for an exact validation metric computed outside Keras's averages."""

        weights = []

        def on_epoch_end(self, epoch, logs=None):
            logs["val_exact"] = [3.0, 1.0, 2.0][epoch]
            self.weights.append(self.model.get_weights())

    model, config = toy_model(), TrainConfig(epochs=3, patience=5, verbose="0")
    history = trainer.fit(model, toy_data(), toy_data(), config, tmp_path, "val_exact", "min", [ExactScore()])
    assert list(history["val_exact"]) == [3.0, 1.0, 2.0]
    # The model ends at the epoch the task's score chose (the second), not the last.
    second, last = ExactScore.weights[1], ExactScore.weights[2]
    assert all(np.allclose(a, b) for a, b in zip(second, model.get_weights()))
    assert not all(np.allclose(a, b) for a, b in zip(last, model.get_weights()))


def test_history_keeps_the_last_row_of_a_rerun_epoch(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\n1,0.9\n1,0.8\n2,0.7\n")
    history = trainer.read_history(tmp_path / "history.csv")
    assert list(history["epoch"]) == [0, 1, 2] and list(history["loss"]) == [1.0, 0.8, 0.7]


@pytest.mark.parametrize(
    "values, mode, best, stale",
    [([0.9, 0.7, 0.8], "min", 0.7, 1), ([0.5, 0.6, 0.4, 0.3], "max", 0.6, 2), ([], "min", None, 0)],
)
def test_early_stopping_and_the_best_epoch_go_on_from_the_history(tmp_path, values, mode, best, stale):
    history = pd.DataFrame({"epoch": range(len(values)), "val_loss": values})
    state = trainer.BestEpoch(tmp_path / "best.weights.h5", "val_loss", mode, patience=2, history=history)
    assert (state.best, state.stale, state.done) == (best, stale, stale >= 2)


def test_auto_verbosity_is_one_line_per_epoch_when_not_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert trainer.keras_verbosity("auto") == 2
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert trainer.keras_verbosity("auto") == 1
    assert trainer.keras_verbosity("0") == 0


HEADER = "epoch,epoch_seconds,loss,val_loss\n"


@pytest.mark.parametrize(
    "content", ["", "epo", HEADER + "0,0.1,1.0,1.1\n1,0.1,0.9,1.0\n2,0.", HEADER + "0,0.1,1.0,1.1\n2\n"]
)
def test_a_history_cut_short_by_a_crash_is_repaired_and_training_finishes(tmp_path, content, capsys):
    # The reported failure: a run killed in its first epoch left a 0-byte history.csv and
    # every later run of the same command stopped with a pandas stack trace.
    (tmp_path / "history.csv").write_text(content)
    history = trainer.fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0"), tmp_path)
    assert len(history) >= 2 and history["loss"].notna().all()
    assert "cut short by a crash" in capsys.readouterr().out


def test_whole_rows_survive_the_repair(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.")
    trainer.repair_history(path)
    assert path.read_text() == "epoch,loss\n0,1.0\n1,0.9\n"
    assert list(trainer.read_history(path)["loss"]) == [1.0, 0.9]


def test_a_torn_backup_falls_back_to_the_previous_one_or_restarts(tmp_path, capsys):
    config = TrainConfig(epochs=3, verbose="0", patience=5)
    trainer.fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0"), tmp_path)
    backup = tmp_path / "backup"  # what a crash after the second epoch leaves
    (backup / "training_metadata.json").write_text('{"epoch": 2, "ba')
    assert trainer.check_backup(backup)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    assert "resuming from the one of epoch 1" in capsys.readouterr().out
    (backup / "training_metadata.json").write_text("{")
    (backup / "training_metadata.json.bkp").write_text("{")
    assert not trainer.check_backup(backup)
    assert not backup.exists() and "from its first epoch" in capsys.readouterr().out
    history = trainer.fit(toy_model(), toy_data(), toy_data(), config, tmp_path)
    assert len(history) == 3


def test_weights_without_their_epoch_record_are_not_restored(tmp_path, capsys):
    # The reported failure: a full disk left only latest.weights.h5, which passed the check,
    # and the resume loaded it as if no epoch had been trained.
    trainer.fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0", patience=5), tmp_path)
    backup = tmp_path / "backup"
    for name in ("training_metadata.json", "training_metadata.json.bkp", "latest.weights.h5.bkp"):
        (backup / name).unlink()
    assert not trainer.check_backup(backup)
    assert "from its first epoch" in capsys.readouterr().out


def test_an_epoch_record_naming_other_weights_falls_back_to_the_pair_that_matches(tmp_path, capsys):
    # A crash between writing the weights and the record pairs one epoch's weights with another's record.
    trainer.fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0", patience=5), tmp_path)
    backup = tmp_path / "backup"
    shutil.copyfile(backup / "training_metadata.json.bkp", backup / "training_metadata.json")
    assert trainer.check_backup(backup)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    assert trainer.pairs_with(backup / "training_metadata.json", backup / "latest.weights.h5")
    assert "the one of epoch 1" in capsys.readouterr().out


def test_torn_best_weights_after_the_last_epoch_train_the_run_again(tmp_path, capsys):
    # The reported failure: an OSError (truncated file) on every rerun.
    config = TrainConfig(epochs=2, verbose="0", patience=5)
    trainer.fit(toy_model(), toy_data(), toy_data(), config, tmp_path)
    best = tmp_path / "checkpoints" / "best.weights.h5"
    best.write_bytes(best.read_bytes()[:3000])
    history = trainer.fit(toy_model(), toy_data(), toy_data(), config, tmp_path)
    assert "best.weights.h5 is unreadable or missing; training this run again" in capsys.readouterr().out
    assert list(history["epoch"]) == [0, 1] and trainer.readable_weights(best)


def test_a_full_disk_inside_keras_or_hdf5_is_named_by_its_file(tmp_path):
    with pytest.raises(OSError) as raised:
        with trainer.naming_the_file(tmp_path / "best.weights.h5"):
            raise RuntimeError("Can't decrement id ref count (file write failed: errno = 28, error message = ...)")
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "best.weights.h5")
    with pytest.raises(ValueError):
        with trainer.naming_the_file(tmp_path / "x"):
            raise ValueError("something else")


def test_exports_take_the_next_version_number(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(trainer, "export_run", lambda task, run, destination: made.append(destination) or destination)
    (tmp_path / "7").mkdir()
    (tmp_path / "notes").mkdir()
    first = trainer.export_next_version(None, tmp_path, tmp_path)
    first.mkdir()
    second = trainer.export_next_version(None, tmp_path, tmp_path)
    assert [path.name for path in made] == ["8", "9"] and second == tmp_path / "9"


def test_a_run_killed_after_its_last_epoch_is_not_trained_again(tmp_path, capsys):
    config = TrainConfig(epochs=2, verbose="0")
    model = toy_model()
    trainer.fit(model, toy_data(), toy_data(), config, tmp_path)
    trained = model.get_weights()
    again = toy_model()  # a fresh process: new weights, then the resume
    history = trainer.fit(again, toy_data(), toy_data(), config, tmp_path)
    assert "training had finished before the interruption (2 epochs)" in capsys.readouterr().out
    assert len(history) == 2 and all(np.allclose(a, b) for a, b in zip(trained, again.get_weights()))


def test_torn_backup_weights_fall_back_to_the_previous_backup(tmp_path, capsys):
    trainer.fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0", patience=5), tmp_path)
    weights = tmp_path / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # killed while writing it
    assert not trainer.readable_weights(weights)
    assert trainer.check_backup(tmp_path / "backup")
    assert trainer.readable_weights(weights) and "the one of epoch 1" in capsys.readouterr().out


def test_each_epoch_draws_its_dropout_masks_from_a_state_fixed_by_seed_and_epoch():
    def masks(model, epoch):
        callback = trainer.EpochRandomState(seed=5)
        callback.set_model(model)
        callback.on_epoch_begin(epoch)
        return keras.ops.convert_to_numpy(model(np.ones((4, 6, 3)), training=True))

    def dropout_model():
        inputs = keras.Input((6, 3))
        hidden = keras.layers.LSTM(8, dropout=0.5, recurrent_dropout=0.5)(inputs)
        return keras.Model(inputs, keras.layers.Dropout(0.5)(hidden))

    first, resumed = dropout_model(), dropout_model()
    resumed.set_weights(first.get_weights())
    masks(first, 0), masks(first, 1)  # an uninterrupted run's earlier epochs
    np.testing.assert_array_equal(masks(first, 2), masks(resumed, 2))
    assert not np.array_equal(masks(first, 2), masks(first, 3))


def test_op_determinism_is_on_by_default_and_can_be_turned_off():
    from tensorflow.python.framework import config as framework_config

    class ToyTask:
        def prepare_config(self, config):
            return config

    try:
        trainer.prepare(ToyTask(), TrainConfig(deterministic=False))
        assert not framework_config.is_op_determinism_enabled()
        trainer.prepare(ToyTask(), TrainConfig())
        assert framework_config.is_op_determinism_enabled()
    finally:
        trainer.set_determinism(True)  # as every run now trains
