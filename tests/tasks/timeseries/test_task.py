"""Forecasting end to end: the run, baselines, the export in a fresh process, predict, bad input."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import main
from common import reports
from common.config import apply_overrides
from common.errors import UserError
from common.export import export_run, load_export
from common.trainer import train
from tasks.timeseries import baselines, windowing
from tasks.timeseries import data as ts_data
from tasks.timeseries import metrics as ts_metrics
from tasks.timeseries import serve as ts_serve
from tasks.timeseries.config import Config
from tasks.timeseries.task import TASK
from tests.tasks.timeseries.toy import TOY, config_for, toy_csv


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One toy training run with an extra feature and a 3-step horizon, shared by the tests below."""
    folder = tmp_path_factory.mktemp("toy_run")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RNN_SUITE_RUNS", str(folder / "runs"))
    config = config_for(toy_csv(folder), "features=temp", "horizon=3")
    run_path = train(TASK, config)
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
    assert set(metrics["baselines"]) == set(baselines.BASELINES)
    for scores in [metrics, *metrics["baselines"].values()]:
        assert len(scores["mae_per_step"]) == 3 and scores["mase"] > 0 and scores["rmse"] >= scores["mae"]
    assert metrics["mae_ratio"]["naive"] == pytest.approx(metrics["mae"] / metrics["baselines"]["naive"]["mae"])
    # the toy cycle repeats every 24 steps, so seasonal naive must beat naive clearly
    assert metrics["baselines"]["seasonal_naive"]["mae"] < 0.5 * metrics["baselines"]["naive"]["mae"]


def test_export_in_a_fresh_process_matches_the_model(trained_run):
    config, run_path = trained_run
    data = ts_data.load_data(config)
    windows = data.windows.inputs["test"][:5].astype(np.float32)
    in_memory = ts_metrics.model_forecast(keras.models.load_model(run_path / "model.keras"), data)[:5]
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
    answers = ts_serve.predict(load_export(run_path / "export"), [])
    assert [answer["step"] for answer in answers] == [1, 2, 3]
    assert answers[0]["time"].startswith("2021-01-13 12:00")  # one hour after the last of 300 hourly rows
    assert 50 < answers[0]["load"] < 150
    window = ";".join(f"{100 + i},{15}" for i in range(12))
    (given,) = ts_serve.predict(load_export(run_path / "export"), [window])
    assert len(given["forecast"]) == 3
    with pytest.raises(UserError, match="needs 12 rows of 2 value"):
        ts_serve.predict(load_export(run_path / "export"), ["1,2,3"])


def test_export_run_rebuilds_the_same_export(trained_run, tmp_path):
    _, run_path = trained_run
    export_run(TASK, run_path, tmp_path / "again")
    assert ts_serve.predict(load_export(tmp_path / "again"), []) == ts_serve.predict(
        load_export(run_path / "export"), []
    )


def test_constant_series_trains_without_nan(tmp_path):
    run_path = train(TASK, config_for(toy_csv(tmp_path, constant=True), "epochs=1"))
    metrics = reports.read_json(run_path / "metrics.json")
    assert metrics["mase"] is None and metrics["mae"] < 1e-3
    assert ts_serve.predict(load_export(run_path / "export"), [])[0]["load"] == pytest.approx(5.0, abs=1e-3)


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


@pytest.mark.slow
def test_lstm_beats_naive_on_sunspots():
    config = apply_overrides(Config(), ["verbose=0"])
    run_path = train(TASK, config)
    metrics = reports.read_json(run_path / "metrics.json")
    assert metrics["mae"] < metrics["baselines"]["naive"]["mae"]
    assert metrics["mae"] < metrics["baselines"]["seasonal_naive"]["mae"]
