"""Forecast-vs-actual over the test span, and the model next to every baseline."""

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tasks.timeseries.baselines import target_indices  # noqa: E402
from tasks.timeseries.config import Config, resolve_defaults  # noqa: E402
from tasks.timeseries.data import Data  # noqa: E402

SHOWN_METRICS = ("mae", "rmse", "mase")


def test_axis(data: Data, config: Config):
    """x values for the test targets (their times when the series has them)."""
    indices = target_indices(data.windows.origins["test"], config.window, config.horizon)
    if data.series.times is None:
        return indices, "step"
    return np.asarray(data.series.times)[indices], "time"


def plot_forecasts(data: Data, config: Config, metrics: dict, path) -> None:
    """Forecast vs actual over the test span: step 1 (and the last step when horizon > 1)."""
    config = resolve_defaults(config)
    axis_values, axis_label = test_axis(data, config)
    actual = data.windows.targets["test"]
    steps = [0] if config.horizon == 1 else [0, config.horizon - 1]
    figure, axes = plt.subplots(len(steps), 1, figsize=(11, 3.6 * len(steps)), squeeze=False)
    for axis, step in zip(axes[:, 0], steps):
        axis.plot(axis_values[:, step], actual[:, step], color="black", linewidth=1.2, label="actual")
        for name, style in (("model", "-"), ("arima", "--"), ("naive", ":")):
            if name in metrics["forecasts"]:
                values = np.asarray(metrics["forecasts"][name])[:, step]
                axis.plot(axis_values[:, step], values, style, linewidth=1, label=name)
        axis.set_title(f"{step + 1}-step-ahead forecast on the test span")
        axis.set_xlabel(axis_label)
        axis.set_ylabel(data.series.columns[0])
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_comparison(metrics: dict, path, title: str = "") -> None:
    """Bars of MAE, RMSE and MASE: model next to every baseline."""
    names = ["model", *metrics["baselines"]]
    rows = {"model": metrics, **metrics["baselines"]}
    shown = [key for key in SHOWN_METRICS if metrics.get(key) is not None]
    figure, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.6), squeeze=False)
    for axis, key in zip(axes[0], shown):
        values = [rows[name][key] or 0.0 for name in names]
        bars = axis.bar(names, values, color=["tab:blue"] + ["tab:gray"] * (len(names) - 1))
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        axis.set_title(key.upper())
        axis.tick_params(axis="x", rotation=30)
        axis.grid(axis="y", alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
