"""Forecast scores: MAE, RMSE, MASE by hand."""

import numpy as np
import pytest

from tasks.timeseries import metrics as ts_metrics


def test_scores_and_mase_scale():
    actual = np.array([[1.0, 2.0], [3.0, 4.0]])
    forecast = np.array([[2.0, 2.0], [3.0, 6.0]])
    scores = ts_metrics.forecast_scores(actual, forecast, scale=0.5)
    assert scores["mae"] == pytest.approx(0.75) and scores["mae_per_step"] == [0.5, 1.0]
    assert scores["rmse"] == pytest.approx(np.sqrt(5 / 4)) and scores["mase"] == pytest.approx(1.5)
    assert ts_metrics.forecast_scores(actual, forecast, scale=0.0)["mase"] is None
    assert ts_metrics.naive_scale(np.array([1.0, 3.0, 2.0])) == pytest.approx(1.5)
