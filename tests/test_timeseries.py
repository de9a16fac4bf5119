"""The timeseries task: config checks, baselines, the model, one real training run on a
toy series, the export in a fresh process, predict, and bad input end to end."""

import json
import subprocess
import sys

import numpy as np
import pytest

import main
from common import reports, windowing
from common.cells import cudnn_blockers, recurrent_layers
from common.config import apply_overrides
from common.errors import UserError
from tasks import timeseries

TOY = ["epochs=2", "units=8", "batch_size=16", "window=12", "verbose=0", "season=24"]


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Runs go to a temporary folder, never into the repository's runs/."""
    monkeypatch.setenv("RNN_SUITE_RUNS", str(tmp_path / "runs"))


def toy_csv(tmp_path, length=300, name="toy.csv", constant=False) -> str:
    """A noisy daily cycle of 24 steps with a temperature-like extra column."""
    steps = np.arange(length)
    rng = np.random.default_rng(0)
    load = 100 + 20 * np.sin(2 * np.pi * steps / 24) + rng.normal(0, 2, length)
    if constant:
        load = np.full(length, 5.0)
    temperature = 15 + 5 * np.cos(2 * np.pi * steps / 24)
    dates = np.datetime64("2021-01-01T00:00") + steps.astype("timedelta64[h]")
    lines = ["time,load,temp"] + [f"{d},{v:.3f},{t:.3f}" for d, v, t in zip(dates, load, temperature)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def config_for(path, *extra):
    options = [f"dataset={path}", "target=load", "time_column=time", *TOY, *extra]
    return apply_overrides(timeseries.Config(), options)


# ---------------------------------------------------------------- config


def test_bidirectional_is_refused_with_a_reason():
    with pytest.raises(UserError, match="bidirectional=true is refused for forecasting"):
        apply_overrides(timeseries.Config(), ["bidirectional=true"])


@pytest.mark.parametrize(
    "options,message",
    [
        (["mode=sideways"], "mode='sideways'"),
        (["loss=mae"], "loss='mae'"),
        (["mode=autoregressive", "features=temp"], "cannot feed back extra features"),
        (["arima_order=2,0"], "expected 3 non-negative integers"),
        (["horizon=0"], "at least 1"),
        (["test_file=later.csv"], "test_file is not used for forecasting"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(UserError, match=message):
        apply_overrides(timeseries.Config(), options)


def test_dataset_defaults_fill_only_unset_options():
    resolved = timeseries.resolve_defaults(timeseries.Config(dataset="co2", window=10))
    assert resolved.window == 10 and resolved.season == 52 and resolved.seasonal_order == "0,1,0,52"


# ---------------------------------------------------------------- baselines and scores


def test_naive_and_seasonal_naive_forecasts():
    target = np.arange(30, dtype=float)
    origins = np.array([10, 12])  # window 4: forecast origins are 13 and 15
    np.testing.assert_array_equal(timeseries.naive_forecast(target, origins, 4, 3), [[13] * 3, [15] * 3])
    seasonal = timeseries.seasonal_naive_forecast(target, origins, 4, 3, season=2)
    # steps 1-2 come from one season back, step 3 from two seasons back
    np.testing.assert_array_equal(seasonal, [[12, 13, 12], [14, 15, 14]])


@pytest.mark.parametrize("order,seasonal_order", [((2, 0, 1), None), ((1, 1, 0), (0, 1, 1, 4))])
def test_arima_multi_origin_forecast_equals_statsmodels_forecast(order, seasonal_order):
    rng = np.random.default_rng(3)
    target = 10 + np.cumsum(rng.normal(0, 1, 160)) * 0.3 + np.sin(np.arange(160) * np.pi / 2)
    origins, window, horizon = np.array([100, 120, 150]), 5, 4
    forecasts, fitted = timeseries.arima_forecast(target, 100, origins, window, horizon, order, seasonal_order)
    for row, origin in enumerate(origins):
        history = target[: origin + window]
        expected = fitted.apply(history).forecast(horizon)
        np.testing.assert_allclose(forecasts[row], expected, rtol=1e-8, atol=1e-8)


def test_scores_and_mase_scale():
    actual = np.array([[1.0, 2.0], [3.0, 4.0]])
    forecast = np.array([[2.0, 2.0], [3.0, 6.0]])
    scores = timeseries.forecast_scores(actual, forecast, scale=0.5)
    assert scores["mae"] == pytest.approx(0.75) and scores["mae_per_step"] == [0.5, 1.0]
    assert scores["rmse"] == pytest.approx(np.sqrt(5 / 4)) and scores["mase"] == pytest.approx(1.5)
    assert timeseries.forecast_scores(actual, forecast, scale=0.0)["mase"] is None
    assert timeseries.naive_scale(np.array([1.0, 3.0, 2.0])) == pytest.approx(1.5)


# ---------------------------------------------------------------- model


@pytest.mark.parametrize("mode", timeseries.MODES)
def test_model_shapes_dtype_and_cudnn(tmp_path, mode):
    config = config_for(toy_csv(tmp_path), f"mode={mode}", "horizon=3", "num_layers=2", "cell=gru")
    data = timeseries.load_data(config)
    model = timeseries.build_model(config, data)
    columns = len(data.series.columns)
    assert model.input_shape == (None, 12, columns) and model.output_shape == (None, 3)
    assert len(recurrent_layers(model)) == 2
    assert all(not cudnn_blockers(layer) for layer in recurrent_layers(model))
    assert model.layers[-1].dtype_policy.compute_dtype == "float32" or model.output.dtype == "float32"
    assert model.predict(np.zeros((2, 12, columns), np.float32), verbose=0).shape == (2, 3)


def test_autoregressive_mode_feeds_predictions_back(tmp_path):
    config = config_for(toy_csv(tmp_path), "mode=autoregressive", "horizon=3")
    data = timeseries.load_data(config)
    model = timeseries.build_model(config, data)
    one_step = model.get_layer("one_step")
    window = np.random.default_rng(1).normal(size=(1, 12, 1)).astype(np.float32)
    first = one_step.predict(window, verbose=0)
    shifted = np.concatenate([window[:, 1:], first[:, :, None]], axis=1)
    second = one_step.predict(shifted, verbose=0)
    np.testing.assert_allclose(model.predict(window, verbose=0)[:, :2], np.concatenate([first, second], 1), rtol=1e-5)


# ---------------------------------------------------------------- one real run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One toy training run with an extra feature and a 3-step horizon, shared by the tests below."""
    folder = tmp_path_factory.mktemp("toy_run")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RNN_SUITE_RUNS", str(folder / "runs"))
    config = config_for(toy_csv(folder), "features=temp", "horizon=3")
    run_path = timeseries.train(config)
    yield config, run_path
    monkeypatch.undo()


def test_run_writes_every_artifact_and_scores_baselines(trained_run):
    _, run_path = trained_run
    for name in ("config.json", "data.json", "metrics.json", "history.csv", "model.keras", "test_forecasts.json"):
        assert (run_path / name).is_file(), name
    for name in ("learning_curves.png", "forecast_vs_actual.png", "model_vs_baselines.png"):
        assert (run_path / name).stat().st_size > 1000, name
    assert (run_path / "export" / "saved_model.pb").is_file()
    assert not list((run_path.parent / ".incomplete").iterdir())
    metrics = reports.read_json(run_path / "metrics.json")
    assert set(metrics["baselines"]) == set(timeseries.BASELINES)
    for scores in [metrics, *metrics["baselines"].values()]:
        assert len(scores["mae_per_step"]) == 3 and scores["mase"] > 0 and scores["rmse"] >= scores["mae"]
    assert metrics["mae_ratio"]["naive"] == pytest.approx(metrics["mae"] / metrics["baselines"]["naive"]["mae"])
    # the toy cycle repeats every 24 steps, so seasonal naive must beat naive clearly
    assert metrics["baselines"]["seasonal_naive"]["mae"] < 0.5 * metrics["baselines"]["naive"]["mae"]


def test_export_in_a_fresh_process_matches_the_model(trained_run):
    config, run_path = trained_run
    data = timeseries.load_data(config)
    windows = data.windows.inputs["test"][:5].astype(np.float32)
    in_memory = timeseries.model_forecast(timeseries.keras.models.load_model(run_path / "model.keras"), data)[:5]
    code = (
        "import json, sys, numpy, tensorflow as tf\n"
        f"serving = tf.saved_model.load({str(run_path / 'export')!r}).signatures['serving_default']\n"
        "windows = tf.constant(json.loads(sys.stdin.read()), dtype=tf.float32)\n"
        "print(json.dumps(serving(window=windows)['forecast'].numpy().tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(windows.tolist()), capture_output=True, text=True, check=True
    )
    served = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    assert served.shape == (5, 3)
    np.testing.assert_allclose(served, in_memory, rtol=1e-4, atol=1e-3)
    assert np.abs(served).mean() > 10  # original units (the toy load is near 100), not normalized


def test_predict_next_horizon_and_given_windows(trained_run):
    _, run_path = trained_run
    answers = timeseries.predict(run_path / "export", [], run_path)
    assert [answer["step"] for answer in answers] == [1, 2, 3]
    assert answers[0]["time"].startswith("2021-01-13 12:00")  # one hour after the last of 300 hourly rows
    assert 50 < answers[0]["load"] < 150
    window = ";".join(f"{100 + i},{15}" for i in range(12))
    (given,) = timeseries.predict(run_path / "export", [window], run_path)
    assert len(given["forecast"]) == 3
    with pytest.raises(UserError, match="needs 12 rows of 2 value"):
        timeseries.predict(run_path / "export", ["1,2,3"], run_path)


def test_export_run_rebuilds_the_same_export(trained_run, tmp_path):
    _, run_path = trained_run
    timeseries.export_run(run_path, tmp_path / "again")
    assert timeseries.predict(tmp_path / "again", [], run_path) == timeseries.predict(run_path / "export", [], run_path)


# ---------------------------------------------------------------- bad input end to end


def test_constant_series_trains_without_nan(tmp_path):
    run_path = timeseries.train(config_for(toy_csv(tmp_path, constant=True), "epochs=1"))
    metrics = reports.read_json(run_path / "metrics.json")
    assert metrics["mase"] is None and metrics["mae"] < 1e-3
    assert timeseries.predict(run_path / "export", [], run_path)[0]["load"] == pytest.approx(5.0, abs=1e-3)


def test_short_series_is_a_clear_error_and_leaves_no_run(tmp_path, capsys):
    path = toy_csv(tmp_path, length=60)
    code = main.main(["train", "timeseries", f"dataset={path}", "target=load", *TOY])
    error = capsys.readouterr().err
    assert code == 2
    needed = windowing.minimum_length(12 + 1, 0.1, 0.1)
    assert "error: " in error and "has 60 values" in error and f"needs at least {needed}" in error
    assert not (tmp_path / "runs" / "timeseries").exists() or not any((tmp_path / "runs" / "timeseries").iterdir())


def test_cli_reports_bad_cells_and_missing_target(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("load\n1\n2\nlots\n", encoding="utf-8")
    assert main.main(["train", "timeseries", f"dataset={path}", "target=load"]) == 2
    assert "bad.csv, line 4, column 'load': 'lots' is not a number" in capsys.readouterr().err
    assert main.main(["train", "timeseries", f"dataset={path}"]) == 2
    assert "target=<column>" in capsys.readouterr().err


def test_builtin_series_read_as_documented():
    config = timeseries.Config()
    sunspots = timeseries.read_sunspots(config)
    assert sunspots.values.shape == (2820, 1) and str(sunspots.times[-1]).startswith("1983-12")
    co2 = timeseries.read_co2(config)
    assert co2.values.shape == (2284, 1) and co2.summary["missing_filled"] == 59
    electricity = timeseries.read_electricity(config)
    assert electricity.values.shape == (4032, 1) and electricity.values[0, 0] == 22262


# ---------------------------------------------------------------- slow learning check


@pytest.mark.slow
def test_lstm_beats_naive_on_sunspots():
    config = apply_overrides(timeseries.Config(), ["verbose=0"])
    run_path = timeseries.train(config)
    metrics = reports.read_json(run_path / "metrics.json")
    assert metrics["mae"] < metrics["baselines"]["naive"]["mae"]
    assert metrics["mae"] < metrics["baselines"]["seasonal_naive"]["mae"]


def test_window_helpers_are_shared():
    # the task uses the shared windowing module rather than its own copy
    assert timeseries.windowing is windowing
