"""Time-series data: the built-in series (pmdarima, statsmodels), your own table,
chronological windows, and the tf.data pipelines."""

import ast
import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pandas

from common import sources
from common.errors import UserError
from common.pipeline import per_replica_batch
from common.task import TaskData
from tasks.timeseries import windowing
from tasks.timeseries.config import DATASETS, USER_FILES, Config, feature_names, resolve_defaults

# Licence: MIT (pmdarima); sunspots from R datasets, electricity demand from Taylor (2003)
PMDARIMA_PACKAGE = sources.RegistryPackage(
    description="the sunspots and electricity-demand series of pmdarima",
    # The sdist needs a compiler to even report its metadata, so pip fetches this wheel
    # (the data files in it are the same on every platform; `pip_options` pins its tags).
    filename="pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
    sha256="e8148ff1f4cdb9a07164247eb3e6dddc1baef6e226d38528bd3fdf5d160f8dee",
)


@dataclasses.dataclass
class Assets:
    """What a run keeps to export again: the scaling, the columns, the window and horizon,
    and the series' last window with the times after it (the export's `latest`)."""

    columns: list[str]
    normalizer: dict
    window: int
    horizon: int
    last_window: list[list[float]]
    next_times: list[str] | None


@dataclasses.dataclass
class Data(TaskData):
    """The cleaned series and its windows (train / validation / test)."""

    series: windowing.Series = None
    windows: windowing.Windows = None
    source: str = ""


def pmdarima_folder(download=sources.pip_download):
    return sources.extract(PMDARIMA_PACKAGE, download=download) / "pmdarima" / "datasets"


def read_sunspots(config: Config, download=sources.pip_download) -> windowing.Series:
    """Monthly mean sunspot numbers, January 1749 to December 1983 (2,820 months)."""
    with gzip.open(pmdarima_folder(download) / "data" / "sunspots.txt.gz", "rt") as handle:
        values = np.loadtxt(handle).ravel()
    times = pandas.date_range("1749-01-01", periods=len(values), freq="MS")
    return windowing.series_from_array(values, ["sunspots"], times, config.max_missing_share, "sunspots")


def read_electricity(config: Config, download=sources.pip_download) -> windowing.Series:
    """Half-hourly electricity demand in England and Wales (MW), from Monday 5 June 2000.

    The values sit in a literal `np.array([...])` in pmdarima's taylor.py; they are read
    with `ast`, so no pmdarima code runs.
    """
    source = (pmdarima_folder(download) / "taylor.py").read_text(encoding="utf-8")
    values = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "array" and node.args:
            values = np.asarray(ast.literal_eval(node.args[0]), dtype=np.float64)
            break
    if values is None or len(values) != 4032:
        raise UserError("pmdarima's taylor.py no longer holds the 4,032 electricity values this task expects")
    times = pandas.date_range("2000-06-05 00:00", periods=len(values), freq="30min")
    return windowing.series_from_array(values, ["demand"], times, config.max_missing_share, "electricity")


def read_co2(config: Config) -> windowing.Series:
    """Weekly Mauna Loa CO2 (ppm), March 1958 to December 2001, from statsmodels' own CSV."""
    import statsmodels.datasets.co2

    path = Path(statsmodels.datasets.co2.__file__).parent / "co2.csv"
    return windowing.read_series_table(path, "co2", (), "date", config.max_missing_share, time_format="%Y%m%d")


def read_user_series(config: Config) -> windowing.Series:
    if not config.target:
        raise UserError(f"{config.dataset}: say which column to forecast: target=<column> (make: TARGET=<column>)")
    return windowing.read_series_table(
        config.dataset,
        config.target,
        feature_names(config),
        config.time_column,
        config.max_missing_share,
        time_format=config.time_format or None,
    )


def load_series(config: Config) -> tuple[windowing.Series, str]:
    """The series named by `config.dataset` and a description of where it came from."""
    name = sources.resolve_dataset(config.dataset, "timeseries", DATASETS, (), USER_FILES).name
    if name == "sunspots":
        return read_sunspots(config), "sunspots (pmdarima 2.1.1 wheel)"
    if name == "co2":
        return read_co2(config), "Mauna Loa CO2 (statsmodels)"
    if name == "electricity":
        return read_electricity(config), "electricity demand (pmdarima 2.1.1 wheel, Taylor 2003)"
    return read_user_series(config), name


def load_data(config: Config) -> Data:
    """Train / validation / test windows of one series, as the contract of every task has it."""
    config = resolve_defaults(config)
    series, source = load_series(config)
    windows = windowing.split_windows(
        series.values,
        config.window,
        config.horizon,
        config.validation_share,
        config.test_share,
        config.stride,
        source=source,
    )
    summary = dict(series.summary, source=source, columns=series.columns, values=len(series.values))
    summary.update({f"{part}_windows": len(origins) for part, origins in windows.origins.items()})
    if series.times is not None:
        summary["start"], summary["end"] = str(series.times[0]), str(series.times[-1])
    assets = Assets(
        columns=series.columns,
        normalizer=windows.normalizer.to_dict(),
        window=config.window,
        horizon=config.horizon,
        last_window=series.values[-config.window :].tolist(),
        next_times=next_times(series.times, config.horizon),
    )
    splits = {part: [int(start), int(stop)] for part, (start, stop) in windows.bounds.items()}
    return Data(assets, summary, splits, len(windows.origins["train"]), series=series, windows=windows, source=source)


def make_datasets(config: Config, data: Data, global_batch_size: int, input_context=None) -> dict:
    """Normalized tf.data pipelines of (window, target) per part."""
    windows = data.windows
    return {
        part: windowing.window_dataset(
            windows.inputs[part],
            windows.targets[part],
            per_replica_batch(global_batch_size, input_context),
            windows.normalizer,
            shuffle=part == "train",
            seed=config.seed,
            input_context=input_context,
        )
        for part in windowing.PARTS
    }


def next_times(times, horizon: int) -> list[str] | None:
    """Timestamps of the `horizon` steps after the end of a regular series."""
    if times is None or len(times) < 2:
        return None
    frequency = pandas.infer_freq(times[-min(len(times), 50) :])
    if frequency is None:
        return None
    return [str(time) for time in pandas.date_range(times[-1], periods=horizon + 1, freq=frequency)[1:]]
