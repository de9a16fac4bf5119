"""Time series into supervised windows: reading, cleaning, splitting, scaling, tf.data.

A series is a 2-D float array `[time, columns]` whose column 0 is the target and the
other columns are extra input series. Windows are built from it in three chronological
parts (train, validation, test); a window (its inputs and the targets it forecasts)
never crosses a part boundary, so nothing from a later part leaks into an earlier one.
Normalization is fitted on the training part only.

Nothing in it knows about a particular dataset.
"""

import dataclasses
import math

import numpy as np
import pandas
import tensorflow as tf

from common.errors import UserError
from common.pipeline import shard
from common.tables import line_of_row, read_table, require_columns

PARTS = ("train", "validation", "test")
MISSING_MARKERS = {"", "na", "nan", "null", "none", "n/a", "?"}


# ---------------------------------------------------------------- reading and cleaning


@dataclasses.dataclass
class Series:
    """A cleaned, regularly ordered multivariate series (column 0 is the target)."""

    values: np.ndarray  # [time, columns], float64
    columns: list[str]
    times: pandas.DatetimeIndex | None  # None when the source has no time column
    summary: dict  # what cleaning did: missing values filled, rows sorted, gaps found


def parse_number_column(texts, path, column: str) -> np.ndarray:
    """Floats from the cells of one column; an empty or NA cell becomes NaN.

    Any other cell that is not a number is a `UserError` naming its file line and column.
    """
    values = np.empty(len(texts), dtype=np.float64)
    for row_index, text in enumerate(texts):
        cell = "" if text is None else str(text).strip()
        if cell.lower() in MISSING_MARKERS:
            values[row_index] = np.nan
            continue
        try:
            values[row_index] = float(cell)
        except ValueError:
            raise UserError(
                f"{path}, line {line_of_row(path, row_index)}, column {column!r}: {cell!r} is not a number"
            ) from None
        if not math.isfinite(values[row_index]):
            raise UserError(f"{path}, line {line_of_row(path, row_index)}, column {column!r}: {cell!r} is not finite")
    return values


def parse_times(texts, path, column: str, time_format: str | None = None) -> pandas.DatetimeIndex:
    """Timestamps parsed with pandas; an unparsable cell is an error naming its line."""
    times = pandas.to_datetime(pandas.Series(list(texts), dtype=str), format=time_format, errors="coerce")
    bad = np.flatnonzero(times.isna().to_numpy())
    if len(bad):
        row_index = int(bad[0])
        raise UserError(
            f"{path}, line {line_of_row(path, row_index)}, column {column!r}: "
            f"cannot read {texts[row_index]!r} as a date/time ({len(bad)} such cell(s))"
        )
    return pandas.DatetimeIndex(times)


def order_by_time(values: np.ndarray, times: pandas.DatetimeIndex, path, column: str):
    """Sort rows by time; duplicate timestamps are an error naming both lines.

    Returns the sorted values and times and how many rows were out of order.
    """
    order = np.argsort(times.to_numpy(), kind="stable")
    sorted_times = times[order]
    duplicated = np.flatnonzero(sorted_times[1:] == sorted_times[:-1])
    if len(duplicated):
        first, second = sorted(order[duplicated[0] : duplicated[0] + 2])
        raise UserError(
            f"{path}, column {column!r}: duplicate timestamp {sorted_times[duplicated[0] + 1]} on lines "
            f"{line_of_row(path, int(first))} and {line_of_row(path, int(second))} ({len(duplicated)} duplicate(s)); "
            "aggregate or remove them first"
        )
    out_of_order = int(np.sum(order != np.arange(len(order))))
    return values[order], sorted_times, out_of_order


def fill_time_gaps(values: np.ndarray, times: pandas.DatetimeIndex):
    """Insert NaN rows where regularly spaced timestamps are missing.

    The step is the most common spacing. If some spacing is not a whole multiple of it
    the series is irregular: it is kept as it is and reported.
    Returns values, times, the number of inserted rows and whether spacing is regular.
    """
    if len(times) < 3:
        return values, times, 0, True
    times = times.as_unit("ns")  # so that asi8 counts nanoseconds whatever pandas parsed
    differences = np.diff(times.asi8)
    step = int(pandas.Series(differences).mode().iloc[0])
    if np.any(differences % step):
        return values, times, 0, False
    positions = (times.asi8 - times.asi8[0]) // step
    filled = np.full((int(positions[-1]) + 1, values.shape[1]), np.nan)
    filled[positions] = values
    regular = pandas.DatetimeIndex(pandas.to_datetime(times.asi8[0] + step * np.arange(len(filled)), unit="ns"))
    if times.tz is not None:
        regular = regular.tz_localize("UTC").tz_convert(times.tz)
    return filled, regular, len(filled) - len(values), True


def interpolate_missing(values: np.ndarray, columns, max_missing_share: float, source: str):
    """Fill NaN cells by linear interpolation in time (ends: nearest value).

    More missing cells in a column than `max_missing_share` of its length is an error,
    as is a column with no value at all. Returns the filled values and the count filled.
    """
    missing = np.isnan(values)
    for index, column in enumerate(columns):
        count = int(missing[:, index].sum())
        if count == len(values):
            raise UserError(f"{source}: column {column!r} has no values at all")
        if count > max_missing_share * len(values):
            raise UserError(
                f"{source}: column {column!r} has {count} missing of {len(values)} values "
                f"({count / len(values):.1%}), more than max_missing_share={max_missing_share}; "
                "clean the data or raise max_missing_share"
            )
    if not missing.any():
        return values, 0
    frame = pandas.DataFrame(values).interpolate(method="linear", limit_direction="both")
    return frame.to_numpy(dtype=np.float64), int(missing.sum())


def read_series_table(
    path,
    target: str,
    features=(),
    time_column: str = "",
    max_missing_share: float = 0.05,
    time_format: str | None = None,
) -> Series:
    """A series from a CSV/TSV/JSONL file: target column, optional extra input columns
    and an optional time column (parsed, sorted, gaps filled, duplicates refused).

    Missing cells are interpolated and counted; every problem is a one-line `UserError`.
    """
    table = read_table(path)
    columns = [target, *[name for name in features if name != target]]
    wanted = {"target": target, **{f"features ({name})": name for name in columns[1:]}}
    if time_column:
        wanted["time_column"] = time_column
    require_columns(table, path, wanted)
    values = np.stack([parse_number_column(table[name].tolist(), path, name) for name in columns], axis=1)
    summary = {"rows": len(values)}
    times = None
    if time_column:
        times = parse_times(table[time_column].tolist(), path, time_column, time_format)
        values, times, summary["rows_out_of_order"] = order_by_time(values, times, path, time_column)
        values, times, summary["gap_rows_inserted"], summary["regular_spacing"] = fill_time_gaps(values, times)
    values, summary["missing_filled"] = interpolate_missing(values, columns, max_missing_share, str(path))
    return Series(values, columns, times, summary)


def series_from_array(values, columns, times=None, max_missing_share: float = 0.05, source: str = "series"):
    """A `Series` from an in-memory array (built-in datasets), missing values filled."""
    values = np.asarray(values, dtype=np.float64)
    values = values.reshape(len(values), -1)
    values, filled = interpolate_missing(values, list(columns), max_missing_share, source)
    return Series(values, list(columns), times, {"rows": len(values), "missing_filled": filled})


# ---------------------------------------------------------------- splitting and windows


def part_bounds(length: int, validation_share: float, test_share: float) -> dict[str, tuple[int, int]]:
    """[start, stop) of each chronological part: train first, test last."""
    test_size = int(round(length * test_share))
    validation_size = int(round(length * validation_share))
    train_stop = length - test_size - validation_size
    return {
        "train": (0, train_stop),
        "validation": (train_stop, train_stop + validation_size),
        "test": (train_stop + validation_size, length),
    }


def minimum_length(span: int, validation_share: float, test_share: float) -> int:
    """The shortest series whose every non-empty part holds `span` = window + horizon values."""
    length = span
    while not parts_fit(length, span, validation_share, test_share):
        length += 1
    return length


def parts_fit(length: int, span: int, validation_share: float, test_share: float) -> bool:
    bounds = part_bounds(length, validation_share, test_share)
    wanted = {"train": True, "validation": validation_share > 0, "test": test_share > 0}
    return all(stop - start >= span for name, (start, stop) in bounds.items() if wanted[name])


def check_length(length: int, window: int, horizon: int, validation_share: float, test_share: float, source: str):
    """A clear error when the series is too short to give every part one whole window."""
    span = window + horizon
    if not parts_fit(length, span, validation_share, test_share):
        needed = minimum_length(span, validation_share, test_share)
        raise UserError(
            f"{source}: the series has {length} values; window={window} + horizon={horizon} needs at least "
            f"{needed} (each of train/validation/test must hold {span} consecutive values with "
            f"validation_share={validation_share}, test_share={test_share}); use a shorter window or more data"
        )


def window_origins(start: int, stop: int, window: int, horizon: int, stride: int = 1) -> np.ndarray:
    """Indices of the first input value of every window lying wholly inside [start, stop)."""
    return np.arange(start, stop - window - horizon + 1, stride)


def make_windows(values: np.ndarray, origins, window: int, horizon: int, target_column: int = 0):
    """Inputs `[n, window, columns]` and targets `[n, horizon]` for windows starting at `origins`."""
    origins = np.asarray(origins, dtype=np.int64)
    input_index = origins[:, None] + np.arange(window)[None, :]
    target_index = origins[:, None] + window + np.arange(horizon)[None, :]
    return values[input_index], values[target_index, target_column]


# ---------------------------------------------------------------- normalization


@dataclasses.dataclass
class Normalizer:
    """Per-column mean and scale fitted on the training part; a constant column gets scale 1."""

    mean: np.ndarray  # [columns]
    scale: np.ndarray  # [columns]

    @classmethod
    def fit(cls, values: np.ndarray) -> "Normalizer":
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        # A constant column would divide by zero; scale 1 maps it to zeros instead.
        scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
        return cls(mean.astype(np.float64), scale.astype(np.float64))

    def transform(self, values):
        return (values - self.mean) / self.scale

    def transform_target(self, values, target_column: int = 0):
        """Target values (any shape) on the training scale of the target column."""
        return (values - self.mean[target_column]) / self.scale[target_column]

    def inverse_target(self, values, target_column: int = 0):
        """Back to original units for values of the target column."""
        return values * self.scale[target_column] + self.mean[target_column]

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, values: dict) -> "Normalizer":
        return cls(np.asarray(values["mean"], dtype=np.float64), np.asarray(values["scale"], dtype=np.float64))


# ---------------------------------------------------------------- all of it together


@dataclasses.dataclass
class Windows:
    """Windows of each part in original units, plus what built them."""

    inputs: dict[str, np.ndarray]  # part -> [n, window, columns]
    targets: dict[str, np.ndarray]  # part -> [n, horizon]
    origins: dict[str, np.ndarray]  # part -> index of each window's first input value
    bounds: dict[str, tuple[int, int]]
    normalizer: Normalizer


def split_windows(
    values: np.ndarray,
    window: int,
    horizon: int,
    validation_share: float,
    test_share: float,
    stride: int = 1,
    source: str = "series",
) -> Windows:
    """Chronological train/validation/test windows; none crosses a part boundary.

    `stride` thins the training windows; validation and test use every window so that
    scores cover the whole held-out span. Normalization is fitted on the training part.
    """
    if window < 1 or horizon < 1 or stride < 1:
        raise UserError("window, horizon and stride must be at least 1")
    check_length(len(values), window, horizon, validation_share, test_share, source)
    bounds = part_bounds(len(values), validation_share, test_share)
    inputs, targets, origins = {}, {}, {}
    for part, (start, stop) in bounds.items():
        origins[part] = window_origins(start, stop, window, horizon, stride if part == "train" else 1)
        inputs[part], targets[part] = make_windows(values, origins[part], window, horizon)
    train_start, train_stop = bounds["train"]
    normalizer = Normalizer.fit(values[train_start:train_stop])
    return Windows(inputs, targets, origins, bounds, normalizer)


def window_dataset(
    inputs, targets, batch_size: int, normalizer: Normalizer, shuffle: bool = False, seed: int = 0, input_context=None
) -> tf.data.Dataset:
    """A batched, prefetched tf.data pipeline of normalized (window, target) pairs
    (with a strategy's `input_context`: this worker's shard only)."""
    features = normalizer.transform(inputs).astype(np.float32)
    labels = normalizer.transform_target(targets).astype(np.float32)
    dataset = shard(tf.data.Dataset.from_tensor_slices((features, labels)), input_context).cache()
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
