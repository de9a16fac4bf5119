"""Baselines: naive, seasonal naive, and ARIMA equal to statsmodels at every origin."""

import numpy as np
import pytest

from tasks.timeseries import baselines


def test_naive_and_seasonal_naive_forecasts():
    target = np.arange(30, dtype=float)
    origins = np.array([10, 12])  # window 4: forecast origins are 13 and 15
    np.testing.assert_array_equal(baselines.naive_forecast(target, origins, 4, 3), [[13] * 3, [15] * 3])
    seasonal = baselines.seasonal_naive_forecast(target, origins, 4, 3, season=2)
    # steps 1-2 come from one season back, step 3 from two seasons back
    np.testing.assert_array_equal(seasonal, [[12, 13, 12], [14, 15, 14]])


@pytest.mark.parametrize("order,seasonal_order", [((2, 0, 1), None), ((1, 1, 0), (0, 1, 1, 4))])
def test_arima_multi_origin_forecast_equals_statsmodels_forecast(order, seasonal_order):
    rng = np.random.default_rng(3)
    target = 10 + np.cumsum(rng.normal(0, 1, 160)) * 0.3 + np.sin(np.arange(160) * np.pi / 2)
    origins, window, horizon = np.array([100, 120, 150]), 5, 4
    forecasts, fitted = baselines.arima_forecast(target, 100, origins, window, horizon, order, seasonal_order)
    for row, origin in enumerate(origins):
        history = target[: origin + window]
        expected = fitted.apply(history).forecast(horizon)
        np.testing.assert_allclose(forecasts[row], expected, rtol=1e-8, atol=1e-8)
