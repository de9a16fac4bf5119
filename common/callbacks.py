"""The callbacks every run trains with (`common.trainer.fit`): epoch times, dropout masks
fixed per epoch, and the best epoch's weights with early stopping."""

import os
import time
from pathlib import Path

import keras
import numpy as np

from common.failpoints import failpoint
from common.files import naming_the_file


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
