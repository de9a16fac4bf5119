"""The forecasters every run is measured against, on the same test windows: naive,
seasonal naive, linear on the window, and ARIMA (statsmodels)."""

import warnings

import numpy as np

from common.errors import UserError
from tasks.timeseries import windowing
from tasks.timeseries.config import Config, parse_order, resolve_defaults
from tasks.timeseries.data import Data

BASELINES = ("naive", "seasonal_naive", "linear", "arima")


def target_indices(origins, window: int, horizon: int) -> np.ndarray:
    """[n, horizon] positions in the series of the values each window forecasts."""
    return np.asarray(origins)[:, None] + window + np.arange(horizon)[None, :]


def naive_forecast(target: np.ndarray, origins, window: int, horizon: int) -> np.ndarray:
    """The last observed value, repeated over the horizon."""
    last = target[np.asarray(origins) + window - 1]
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_naive_forecast(target: np.ndarray, origins, window: int, horizon: int, season: int) -> np.ndarray:
    """The value one season earlier (k seasons for steps beyond one season), from the
    history before the forecast origin, which may reach before the window."""
    indices = target_indices(origins, window, horizon)
    seasons_back = np.ceil((np.arange(horizon) + 1) / season).astype(int) * season
    source = indices - seasons_back[None, :]
    if source.min() < 0:
        raise UserError(f"season={season} reaches before the start of the series for the first test window")
    return target[source]


def least_squares(features: np.ndarray, targets: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Weights (the intercept last) of the least-squares map from `features` [n, k] to
    `targets` [n, outputs]; a small ridge keeps constant columns solvable."""
    design = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    penalty = ridge * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(design.T @ design + penalty, design.T @ targets)


def linear_forecast(windows: windowing.Windows, part: str = "test", ridge: float = 1e-3) -> np.ndarray:
    """Least squares from the flattened (normalized) window to every horizon step,
    fitted on the training windows."""
    normalizer = windows.normalizer

    def flat(inputs):
        return normalizer.transform(inputs).reshape(len(inputs), -1)

    weights = least_squares(flat(windows.inputs["train"]), normalizer.transform_target(windows.targets["train"]), ridge)
    return normalizer.inverse_target(flat(windows.inputs[part]) @ weights[:-1] + weights[-1])


def arima_forecast(target, train_stop: int, origins, window: int, horizon: int, order, seasonal_order=None):
    """SARIMAX (statsmodels) fitted on the training part, then run over the whole series
    with those parameters; each window's forecast is the h-step prediction from its origin.

    One Kalman filter pass gives the predicted state after every origin; pushing it
    through the fitted transition `horizon` times equals `results.apply(history).forecast`
    at every origin (a test checks this), at the cost of a single pass.
    """
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    order = tuple(order)
    trend = "c" if order[1] == 0 and (seasonal_order is None or seasonal_order[1] == 0) else None
    model = SARIMAX(target[:train_stop], order=order, seasonal_order=seasonal_order or (0, 0, 0, 0), trend=trend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the scores say how good the fit is
        fitted = model.fit(disp=False)
        everything = fitted.apply(target)
    state_space = everything.model.ssm
    design = constant_over_time(state_space["design"], 2)
    transition = constant_over_time(state_space["transition"], 2)
    state_intercept = constant_over_time(state_space["state_intercept"], 1)
    observation_intercept = constant_over_time(state_space["obs_intercept"], 1)
    last_input = np.asarray(origins) + window - 1
    state = everything.predicted_state[:, last_input + 1]  # state for the first step, given data to the origin
    steps = []
    for _ in range(horizon):
        steps.append((design @ state + observation_intercept[:, None])[0])
        state = transition @ state + state_intercept[:, None]
    return np.stack(steps, axis=1), fitted


def constant_over_time(matrix, dimensions: int) -> np.ndarray:
    """A state-space matrix without its time axis; statsmodels keeps one when the
    values could vary (a trend intercept), and for ARIMA they must not."""
    matrix = np.asarray(matrix)
    if matrix.ndim == dimensions:
        return matrix
    if not np.allclose(matrix, matrix[..., :1]):
        raise ValueError("the ARIMA state space varies over time")
    return matrix[..., 0]


def baseline_forecasts(data: Data, config: Config) -> tuple[dict, dict]:
    """Every baseline's forecasts for the test windows, and a note for each one skipped."""
    config = resolve_defaults(config)
    target = data.series.values[:, 0]
    origins = data.windows.origins["test"]
    forecasts, skipped = {}, {}
    forecasts["naive"] = naive_forecast(target, origins, config.window, config.horizon)
    if config.season:
        try:
            forecasts["seasonal_naive"] = seasonal_naive_forecast(
                target, origins, config.window, config.horizon, config.season
            )
        except UserError as reason:
            skipped["seasonal_naive"] = str(reason)
    else:
        skipped["seasonal_naive"] = "no season length: set season=<steps per season>"
    forecasts["linear"] = linear_forecast(data.windows)
    order = parse_order(config.arima_order, 3, "arima_order")
    seasonal_order = parse_order(config.seasonal_order, 4, "seasonal_order")
    try:
        forecasts["arima"], _ = arima_forecast(
            target, data.windows.bounds["train"][1], origins, config.window, config.horizon, order, seasonal_order
        )
    except (np.linalg.LinAlgError, ValueError) as reason:  # a degenerate series can defeat the fit
        skipped["arima"] = f"statsmodels could not fit ARIMA{order}: {str(reason).splitlines()[0]}"
    return forecasts, skipped
