"""tasks.timeseries.windowing: windows, chronological splits, scaling, cleaning of user series."""

import numpy as np
import pytest

from common.errors import UserError
from tasks.timeseries import windowing


def write(tmp_path, text, name="series.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_windows_hold_the_right_values():
    values = np.arange(20, dtype=float).reshape(-1, 1) * np.array([[1.0, 10.0]])  # target, feature
    inputs, targets = windowing.make_windows(values, [0, 5], window=3, horizon=2)
    assert inputs.shape == (2, 3, 2) and targets.shape == (2, 2)
    np.testing.assert_array_equal(inputs[1, :, 0], [5, 6, 7])
    np.testing.assert_array_equal(inputs[1, :, 1], [50, 60, 70])
    np.testing.assert_array_equal(targets[1], [8, 9])


@pytest.mark.parametrize("window,horizon,stride", [(5, 1, 1), (7, 3, 2), (1, 4, 3)])
def test_no_window_crosses_a_part_boundary(window, horizon, stride):
    values = np.arange(200, dtype=float)[:, None]
    windows = windowing.split_windows(values, window, horizon, 0.15, 0.2, stride)
    for part, (start, stop) in windows.bounds.items():
        origins = windows.origins[part]
        assert len(origins) > 0
        assert origins.min() >= start and origins.max() + window + horizon <= stop
        # every value a window touches lies inside its own part
        assert windows.inputs[part].min() >= start and windows.targets[part].max() < stop
    assert windows.bounds["train"][1] == windows.bounds["validation"][0]
    assert windows.bounds["validation"][1] == windows.bounds["test"][0] == 200 - 40
    # stride thins training windows only; held-out parts keep every window
    assert np.all(np.diff(windows.origins["train"]) == stride)
    assert np.all(np.diff(windows.origins["test"]) == 1)


def test_normalization_is_fitted_on_the_training_part_only():
    values = np.concatenate([np.zeros(80), np.full(20, 1000.0)])[:, None] + np.arange(100)[:, None] * 0.01
    windows = windowing.split_windows(values, 4, 1, 0.1, 0.1)
    train = values[: windows.bounds["train"][1]]
    assert windows.normalizer.mean[0] == pytest.approx(train.mean())
    assert windows.normalizer.mean[0] < 1.0  # the test part's 1000s did not leak in


def test_constant_series_scales_without_dividing_by_zero():
    normalizer = windowing.Normalizer.fit(np.full((50, 2), 7.0))
    np.testing.assert_array_equal(normalizer.scale, [1.0, 1.0])
    transformed = normalizer.transform(np.full((3, 2), 7.0))
    assert np.all(np.isfinite(transformed)) and np.all(transformed == 0)
    assert normalizer.inverse_target(np.zeros(2)).tolist() == [7.0, 7.0]


def test_too_short_series_names_the_minimum():
    window, horizon = 10, 2
    needed = windowing.minimum_length(window + horizon, 0.1, 0.1)
    windowing.split_windows(np.zeros((needed, 1)), window, horizon, 0.1, 0.1)  # exactly enough works
    with pytest.raises(UserError, match=f"at least {needed}"):
        windowing.split_windows(np.zeros((needed - 1, 1)), window, horizon, 0.1, 0.1)
    with pytest.raises(UserError, match="has 30 values"):
        windowing.split_windows(np.zeros((30, 1)), window, horizon, 0.1, 0.1)


def test_dataset_is_normalized_batched_and_prefetched():
    values = np.random.default_rng(0).normal(50, 5, size=(120, 2))
    windows = windowing.split_windows(values, 6, 2, 0.1, 0.1)
    dataset = windowing.window_dataset(
        windows.inputs["train"], windows.targets["train"], 16, windows.normalizer, shuffle=True, seed=1
    )
    assert "Prefetch" in type(dataset).__name__
    features, labels = next(iter(dataset))
    assert features.shape == (16, 6, 2) and labels.shape == (16, 2)
    assert features.dtype.name == "float32"
    assert abs(float(np.mean(features))) < 1.0  # centred, not raw values near 50


def test_missing_values_are_interpolated_and_counted(tmp_path):
    rows = "\n".join(f"{i},{'' if i in (3, 4) else float(i)}" for i in range(50))
    series = windowing.read_series_table(write(tmp_path, "t,value\n" + rows), "value")
    assert series.summary["missing_filled"] == 2
    np.testing.assert_allclose(series.values[2:6, 0], [2, 3, 4, 5])


def test_too_many_missing_values_is_an_error(tmp_path):
    rows = "\n".join(f"{'NA' if i % 4 == 0 else i}" for i in range(40))
    with pytest.raises(UserError, match=r"'value' has 10 missing of 40 .*max_missing_share=0.05"):
        windowing.read_series_table(write(tmp_path, "value\n" + rows), "value", max_missing_share=0.05)


def test_non_numeric_cell_names_line_and_column(tmp_path):
    path = write(tmp_path, "value,temp\n1,2\n3,4\n5,warm\n")
    with pytest.raises(UserError, match=r"series.csv, line 4, column 'temp': 'warm' is not a number"):
        windowing.read_series_table(path, "value", ["temp"])


def test_unsorted_timestamps_are_sorted_and_reported(tmp_path):
    path = write(tmp_path, "date,value\n2020-01-03,3\n2020-01-01,1\n2020-01-02,2\n2020-01-04,4\n")
    series = windowing.read_series_table(path, "value", time_column="date")
    np.testing.assert_array_equal(series.values[:, 0], [1, 2, 3, 4])
    assert series.summary["rows_out_of_order"] == 3
    assert list(series.times.day) == [1, 2, 3, 4]


def test_duplicate_timestamps_are_an_error_naming_lines(tmp_path):
    path = write(tmp_path, "date,value\n2020-01-01,1\n2020-01-02,2\n2020-01-02,5\n")
    with pytest.raises(UserError, match=r"duplicate timestamp 2020-01-02.* lines 3 and 4"):
        windowing.read_series_table(path, "value", time_column="date")


def test_time_gaps_become_interpolated_rows(tmp_path):
    path = write(tmp_path, "date,value\n2020-01-01,1\n2020-01-02,2\n2020-01-05,5\n2020-01-06,6\n")
    series = windowing.read_series_table(path, "value", time_column="date", max_missing_share=0.5)
    assert series.summary["gap_rows_inserted"] == 2 and series.summary["missing_filled"] == 2
    np.testing.assert_allclose(series.values[:, 0], [1, 2, 3, 4, 5, 6])


def test_bad_timestamp_and_missing_column(tmp_path):
    path = write(tmp_path, "date,value\n2020-01-01,1\nyesterday,2\n")
    with pytest.raises(UserError, match=r"line 3, column 'date': cannot read 'yesterday'"):
        windowing.read_series_table(path, "value", time_column="date")
    with pytest.raises(UserError, match=r"no column 'load'.*set target=<column>"):
        windowing.read_series_table(path, "load")
