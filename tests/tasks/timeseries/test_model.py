"""The forecaster: shapes, dtype, cuDNN eligibility, the autoregressive loop."""

import numpy as np
import pytest

from common.cells import cudnn_blockers, recurrent_layers, speed_notes
from tasks.timeseries import data as ts_data
from tasks.timeseries import model as ts_model
from tasks.timeseries.config import MODES
from tests.tasks.timeseries.toy import config_for, toy_csv


@pytest.mark.parametrize("mode", MODES)
def test_model_shapes_dtype_and_cudnn(tmp_path, mode):
    config = config_for(toy_csv(tmp_path), f"mode={mode}", "horizon=3", "num_layers=2", "cell=gru")
    data = ts_data.load_data(config)
    model = ts_model.build_model(config, data.assets)
    columns = len(data.series.columns)
    assert model.input_shape == (None, 12, columns) and model.output_shape == (None, 3)
    assert len(recurrent_layers(model)) == 2
    assert all(not cudnn_blockers(layer) for layer in recurrent_layers(model))
    assert model.layers[-1].dtype_policy.compute_dtype == "float32" or model.output.dtype == "float32"
    assert model.predict(np.zeros((2, 12, columns), np.float32), verbose=0).shape == (2, 3)


@pytest.mark.parametrize("mode", MODES)
def test_a_tcn_forecaster_covers_its_window(tmp_path, mode):
    config = config_for(toy_csv(tmp_path), f"mode={mode}", "horizon=2", "cell=tcn")
    data = ts_data.load_data(config)
    model = ts_model.build_model(config, data.assets)
    assert speed_notes(model) == {"cudnn": "n/a", "receptive_field": 13}  # two levels cover the 12 steps
    window = np.random.default_rng(3).normal(size=(2, 12, len(data.series.columns))).astype(np.float32)
    assert model.predict(window, verbose=0).shape == (2, 2)


def test_autoregressive_mode_feeds_predictions_back(tmp_path):
    config = config_for(toy_csv(tmp_path), "mode=autoregressive", "horizon=3")
    data = ts_data.load_data(config)
    model = ts_model.build_model(config, data.assets)
    one_step = model.get_layer("one_step")
    window = np.random.default_rng(1).normal(size=(1, 12, 1)).astype(np.float32)
    first = one_step.predict(window, verbose=0)
    shifted = np.concatenate([window[:, 1:], first[:, :, None]], axis=1)
    second = one_step.predict(shifted, verbose=0)
    np.testing.assert_allclose(model.predict(window, verbose=0)[:, :2], np.concatenate([first, second], 1), rtol=1e-5)


def test_the_highway_adds_a_linear_map_of_the_window_to_the_forecast(tmp_path):
    """With the recurrent head silenced, the forecast is the window's last value plus the
    highway's linear map of the window: here the value before the last minus the last."""
    config = config_for(toy_csv(tmp_path), "highway=3")
    data = ts_data.load_data(config)
    model = ts_model.build_model(config, data.assets)
    recurrent, highway = model.get_layer("recurrent_forecast"), model.get_layer("highway")
    recurrent.set_weights([np.zeros_like(weight) for weight in recurrent.get_weights()])
    columns = len(data.series.columns)
    picks = np.zeros((3 * columns, 1), np.float32)
    picks[columns * 1], picks[columns * 2] = 1.0, -1.0  # the target column: x[-2] - x[-1]
    highway.set_weights([picks, np.zeros(1, np.float32)])
    window = np.random.default_rng(2).normal(size=(4, 12, columns)).astype(np.float32)
    np.testing.assert_allclose(model.predict(window, verbose=0)[:, 0], window[:, -2, 0], atol=1e-6)


def test_without_the_highway_the_model_has_none(tmp_path):
    config = config_for(toy_csv(tmp_path), "highway=off")
    model = ts_model.build_model(config, ts_data.load_data(config).assets)
    assert "highway" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("extra", [[], ["residual=false"], ["horizon=3"]])
def test_training_starts_from_the_linear_baseline(tmp_path, extra):
    """After `StartFromLinear` the untrained forecaster answers exactly what the
    least-squares linear baseline answers on the test windows."""
    from tasks.timeseries.baselines import linear_forecast

    config = config_for(toy_csv(tmp_path), *extra)
    data = ts_data.load_data(config)
    model = ts_model.build_model(config, data.assets)
    start = ts_model.StartFromLinear(*ts_model.least_squares_highway(config, data.windows))
    start.set_model(model)
    start.on_train_begin()
    normalizer = data.windows.normalizer
    inputs = normalizer.transform(data.windows.inputs["test"]).astype(np.float32)
    forecast = normalizer.inverse_target(model.predict(inputs, verbose=0))
    np.testing.assert_allclose(forecast, linear_forecast(data.windows), rtol=1e-4, atol=1e-3)
