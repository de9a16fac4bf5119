import sys

import keras
import numpy as np

from common import trainer
from common.config import TrainConfig
from tests.common.toy import toy_data, toy_model


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


def test_auto_verbosity_is_one_line_per_epoch_when_not_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert trainer.keras_verbosity("auto") == 2
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert trainer.keras_verbosity("auto") == 1
    assert trainer.keras_verbosity("0") == 0
