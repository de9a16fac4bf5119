"""The forecaster: a causal RNN stack and a dense head on normalized windows, direct or
autoregressive, optionally forecasting the change from the window's last value."""

import keras
import numpy as np

from common.cells import recurrent_stack
from common.optimizers import make_optimizer
from tasks.timeseries.baselines import least_squares
from tasks.timeseries.config import Config, highway_steps, resolve_defaults
from tasks.timeseries.data import Assets


def build_model(config: Config, assets: Assets) -> keras.Model:
    """RNN stack -> dense head, on normalized windows; compiled.

    direct: one output per horizon step. autoregressive: a one-step model applied
    `horizon` times, each prediction appended to the window (the loop is unrolled: the
    horizon is a fixed, small number). Build it inside the distribution strategy's scope.
    """
    config = resolve_defaults(config)
    columns = len(assets.columns)
    window = keras.Input(shape=(config.window, columns), name="window")
    if config.mode == "direct":
        forecast = head(window, config, config.horizon)
    else:
        step_input = keras.Input(shape=(config.window, columns), name="step_window")
        one_step = keras.Model(step_input, head(step_input, config, 1), name="one_step")
        steps, current = [], window
        for step in range(config.horizon):
            prediction = one_step(current)
            steps.append(prediction)
            if step < config.horizon - 1:
                fed_back = keras.layers.Reshape((1, 1), name=f"feed_back_{step + 1}")(prediction)
                current = keras.layers.Concatenate(axis=1, name=f"shift_{step + 1}")([current[:, 1:, :], fed_back])
        forecast = steps[0] if config.horizon == 1 else keras.layers.Concatenate(name="steps")(steps)
    model = keras.Model(window, forecast, name=f"forecaster_{config.cell}_{config.mode}")
    loss = keras.losses.Huber() if config.loss == "huber" else "mse"
    model.compile(optimizer=make_optimizer(config), loss=loss, metrics=["mae"])
    return model


def head(inputs, config: Config, outputs: int):
    """RNN stack and dense head, plus the linear highway. With `residual`, the target
    column is read relative to its last value and the head forecasts the change from it,
    so a series that trends beyond its training range (CO2) needs no values the network
    never saw."""
    recurrent_inputs = inputs
    if config.residual:
        recurrent_inputs = keras.layers.Concatenate(axis=-1, name="relative_window")(
            [inputs[:, :, :1] - inputs[:, -1:, :1], inputs[:, :, 1:]]
        )
    hidden = recurrent_stack(
        recurrent_inputs, config.cell, config.units, config.num_layers, False, config.dropout, context=config.window
    )
    # float32 outputs keep the regression exact under mixed precision.
    parts = [keras.layers.Dense(outputs, dtype="float32", name="recurrent_forecast")(hidden)]
    if highway_steps(config):
        # The window as it is, not relative: relative values would tie the weights of the
        # target's past values to sum to one, and the linear fit could not be represented.
        parts.append(highway(inputs, config, outputs))
    if config.residual:
        parts.append(keras.ops.cast(inputs[:, -1:, 0], "float32"))  # the target at the forecast origin
    return parts[0] if len(parts) == 1 else keras.layers.Add(dtype="float32", name="forecast")(parts)


def highway(inputs, config: Config, outputs: int):
    """The autoregressive highway of LSTNet (Lai et al. 2018): a linear map of the window's
    last `highway` steps (every column), summed with the recurrent forecast. The model then
    contains the linear baseline and the RNN only has to learn what a linear map misses."""
    steps = highway_steps(config)
    recent = keras.layers.Flatten(name="highway_inputs")(inputs[:, -steps:, :])
    return keras.layers.Dense(outputs, dtype="float32", name="highway")(recent)


def least_squares_highway(config: Config, windows) -> tuple[np.ndarray, np.ndarray]:
    """The highway's kernel and bias fitted by least squares (as the linear baseline) on the
    normalized training windows, in the model's own terms: the change from the last value
    with `residual`, one output per horizon step (`direct`) or the next step (`autoregressive`)."""
    inputs = windows.normalizer.transform(windows.inputs["train"])
    targets = windows.normalizer.transform_target(windows.targets["train"])
    if config.mode == "autoregressive":
        targets = targets[:, :1]
    if config.residual:
        targets = targets - inputs[:, -1:, 0]  # the model adds the last value itself
    steps = highway_steps(config)
    weights = least_squares(inputs[:, -steps:, :].reshape(len(inputs), -1), targets)
    return weights[:-1].astype("float32"), weights[-1].astype("float32")


class StartFromLinear(keras.callbacks.Callback):
    """Starts the model at the linear baseline: the highway takes the least-squares
    weights and the recurrent head starts at zero, so training begins from the linear
    forecast and the RNN learns only what improves on it. Runs before the epoch backup
    is restored, so a resumed run keeps its trained weights."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray):
        super().__init__()
        self.kernel, self.bias = kernel, bias

    def on_train_begin(self, logs=None):
        for layer in self.model._flatten_layers():
            if layer.name == "highway":
                layer.set_weights([self.kernel, self.bias])
            elif layer.name == "recurrent_forecast":
                layer.set_weights([np.zeros_like(weight) for weight in layer.get_weights()])


def highway_callbacks(config: Config, data) -> list:
    """The task's callbacks (`Task.callbacks`): start from the least-squares linear
    forecast when the model has a highway, nothing otherwise."""
    if not highway_steps(config):
        return []
    return [StartFromLinear(*least_squares_highway(config, data.windows))]
