"""Forecast scores in original units: MAE, RMSE and MASE, overall and per horizon step,
for the model and every baseline, with the model's ratio to each."""

from pathlib import Path

import numpy as np

from common import reports
from tasks.timeseries import plots
from tasks.timeseries.baselines import baseline_forecasts
from tasks.timeseries.config import Config
from tasks.timeseries.data import Data

MAIN_METRICS = ("mae", "rmse", "mase")


def model_forecast(model, data: Data, part: str = "test", batch_size: int = 256) -> np.ndarray:
    """The model's forecasts for every window of `part`, in original units."""
    normalizer = data.windows.normalizer
    inputs = normalizer.transform(data.windows.inputs[part]).astype(np.float32)
    predictions = model.predict(inputs, batch_size=batch_size, verbose=0)
    return normalizer.inverse_target(np.asarray(predictions, dtype=np.float64))


def naive_scale(train_target: np.ndarray) -> float:
    """MASE denominator: mean absolute one-step naive error on the training part."""
    return float(np.mean(np.abs(np.diff(train_target)))) if len(train_target) > 1 else 0.0


def forecast_scores(actual: np.ndarray, forecast: np.ndarray, scale: float) -> dict:
    """MAE, RMSE and MASE overall and per horizon step, in original units.

    MASE is None when the scale is zero (a constant training series has no naive error).
    """
    errors = forecast - actual
    mae_steps = np.mean(np.abs(errors), axis=0)
    rmse_steps = np.sqrt(np.mean(errors**2, axis=0))
    scores = {
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae_per_step": [float(value) for value in mae_steps],
        "rmse_per_step": [float(value) for value in rmse_steps],
    }
    usable = scale > 1e-12
    scores["mase"] = scores["mae"] / scale if usable else None
    scores["mase_per_step"] = [float(value / scale) for value in mae_steps] if usable else None
    return scores


def evaluate(model, config: Config, data: Data, run_path: Path) -> dict:
    """Model and baselines on the same test windows, the two plots, and every test
    forecast in `test_forecasts.json` (kept out of metrics.json: it is long)."""
    scores = score_forecasters(model, config, data)
    plots.plot_forecasts(data, config, scores, run_path / "forecast_vs_actual.png")
    title = f"{data.source}, horizon {config.horizon}"
    plots.plot_comparison(scores, run_path / "model_vs_baselines.png", title=title)
    forecasts = {"origins": data.windows.origins["test"].tolist(), **scores.pop("forecasts")}
    reports.write_json(forecasts, run_path / "test_forecasts.json")
    return scores


def score_forecasters(model, config: Config, data: Data) -> dict:
    """Test MAE, RMSE and MASE (original units) of the model and of every baseline,
    on the same test windows, overall and per horizon step, with the ratios."""
    actual = data.windows.targets["test"]
    train_start, train_stop = data.windows.bounds["train"]
    scale = naive_scale(data.series.values[train_start:train_stop, 0])
    forecasts, skipped = baseline_forecasts(data, config)
    forecasts = {"model": model_forecast(model, data), **forecasts}
    scores = {name: forecast_scores(actual, forecast, scale) for name, forecast in forecasts.items()}
    metrics = dict(scores["model"])
    metrics["baselines"] = {name: scores[name] for name in forecasts if name != "model"}
    metrics["skipped_baselines"] = skipped
    metrics["mae_ratio"] = {name: ratio(metrics["mae"], scores[name]["mae"]) for name in metrics["baselines"]}
    metrics["mase_scale"] = scale
    metrics["test_windows"] = int(len(actual))
    metrics["forecasts"] = {name: forecast.tolist() for name, forecast in forecasts.items()}
    return metrics


def ratio(value: float, reference: float):
    return float(value / reference) if reference > 1e-12 else None


def describe_scores(metrics: dict) -> str:
    """One line per forecaster with MAE, RMSE, MASE and the model's MAE ratio to it."""
    lines = [f"{'':16}{'MAE':>10}{'RMSE':>10}{'MASE':>8}   model MAE / this"]
    rows = {"model": metrics, **metrics["baselines"]}
    for name, scores in rows.items():
        mase = "-" if scores["mase"] is None else f"{scores['mase']:.3f}"
        share = metrics["mae_ratio"].get(name)
        ratio_text = "" if name == "model" or share is None else f"{share:.3f}"
        lines.append(f"{name:16}{scores['mae']:10.4g}{scores['rmse']:10.4g}{mase:>8}   {ratio_text}")
    for name, reason in metrics.get("skipped_baselines", {}).items():
        lines.append(f"{name:16}skipped: {reason}")
    return "\n".join(lines)
