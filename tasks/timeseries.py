"""Time-series forecasting: a window of past values in, the next `horizon` values out.

Default: an LSTM forecaster on monthly sunspot numbers (1749-1983) from the pmdarima
2.1.1 wheel. Also weekly Mauna Loa CO2 (statsmodels), half-hourly electricity demand
(pmdarima) and your own CSV/TSV/JSONL file (`DATA=f.csv ARGS="target=load"`). Every run
scores the model next to naive, seasonal naive, linear and ARIMA baselines on the same
test windows, in original units. The export takes raw windows in original units.
"""

import ast
import dataclasses
import gzip
import sys
import warnings

import keras
import numpy as np
import pandas
import tensorflow as tf

from common import reports, sources, training, windowing
from common.cells import CELL_NAMES, check_cell, recurrent_stack
from common.config import TrainConfig, load_config, option, save_config
from common.errors import UserError
from common.export import write_saved_model
from common.tables import FORMATS

TASK = "timeseries"

PMDARIMA_PACKAGE = sources.RegistryPackage(
    description="the sunspots and electricity-demand series of pmdarima",
    requirement="pmdarima==2.1.1",
    # The sdist needs a compiler to even report its metadata, so pip fetches this wheel
    # (the data files in it are the same on every platform).
    filename="pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
    sha256="e8148ff1f4cdb9a07164247eb3e6dddc1baef6e226d38528bd3fdf5d160f8dee",
    pip_options=(
        "--only-binary",
        ":all:",
        "--platform",
        "manylinux_2_17_x86_64",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
    ),
    license="MIT (pmdarima); sunspots from R datasets, electricity demand from Taylor (2003)",
)

# Defaults that depend on the data: window length, season length for seasonal naive,
# and the ARIMA baseline's orders. A 0 or "" in the config means "take these".
DATASET_DEFAULTS = {
    # No calendar season in sunspots: the season is the ~11-year solar cycle (132 months).
    "sunspots": {"window": 24, "season": 132, "arima_order": "2,0,1", "seasonal_order": ""},
    "co2": {"window": 52, "season": 52, "arima_order": "1,1,1", "seasonal_order": "0,1,0,52"},
    # Two seasons: a day (48 half-hours) and a week (336); seasonal naive uses the week.
    "electricity": {"window": 96, "season": 336, "arima_order": "2,0,1", "seasonal_order": "0,1,0,48"},
}
FILE_DEFAULTS = {"window": 24, "season": 0, "arima_order": "2,0,1", "seasonal_order": ""}
DATASETS = tuple(DATASET_DEFAULTS)
MODES = ("direct", "autoregressive")
LOSSES = ("mse", "huber")
BASELINES = ("naive", "seasonal_naive", "linear", "arima")
MAIN_METRICS = ("mae", "rmse", "mase")  # what `compare` puts side by side


@dataclasses.dataclass
class Config(TrainConfig):
    dataset: str = option("sunspots", f"{', '.join(DATASETS)}, or a CSV/TSV/JSONL file of your own")
    target: str = option("", "column to forecast, in your own file")
    features: str = option("", "comma-separated extra input columns, in your own file")
    time_column: str = option("", "date/time column, in your own file (parsed, sorted, gaps filled)")
    time_format: str = option("", "strftime format of time_column (default: pandas guesses)")
    max_missing_share: float = option(0.05, "interpolate up to this share of missing values per column, else error")
    window: int = option(0, "input steps per window (0: the dataset's default)")
    horizon: int = option(1, "steps ahead to forecast")
    stride: int = option(1, "steps between training windows (validation/test use every window)")
    mode: str = option("direct", "direct (one output per step) or autoregressive (feed predictions back)")
    cell: str = option("lstm", f"recurrent cell: {', '.join(CELL_NAMES)}")
    bidirectional: bool = option(False, "refused: a forecaster must not read the future")
    num_layers: int = option(1, "stacked recurrent layers")
    units: int = option(64, "units per recurrent layer")
    dropout: float = option(0.0, "dropout on the inputs of each recurrent layer")
    loss: str = option("mse", "mse or huber (on the normalized scale)")
    residual: bool = option(True, "forecast the change from the window's last value (trending series need it)")
    season: int = option(0, "season length for seasonal naive (0: the dataset's default; none for own files)")
    arima_order: str = option("", "ARIMA baseline order p,d,q (empty: the dataset's default)")
    seasonal_order: str = option("", "ARIMA baseline seasonal order P,D,Q,s (empty: the dataset's default)")
    epochs: int = option(40, "maximum training epochs (early stopping may end sooner)")
    patience: int = option(6, "early stopping: epochs without validation improvement")

    def validate(self):
        check_cell(self.cell)
        if self.bidirectional:
            raise UserError(
                "bidirectional=true is refused for forecasting: the backward pass would read values after the "
                "forecast origin; use a causal (one-direction) cell"
            )
        if self.mode not in MODES:
            raise UserError(f"mode={self.mode!r}: choose one of {', '.join(MODES)}")
        if self.loss not in LOSSES:
            raise UserError(f"loss={self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.mode == "autoregressive" and feature_names(self):
            raise UserError("mode=autoregressive cannot feed back extra features (their future is unknown); use direct")
        if min(self.num_layers, self.units, self.horizon, self.stride) < 1 or self.window < 0 or self.season < 0:
            raise UserError("num_layers, units, horizon and stride must be at least 1; window and season at least 0")
        if not 0 <= self.max_missing_share < 1:
            raise UserError("max_missing_share must be in [0, 1)")
        parse_order(self.arima_order, 3, "arima_order")
        parse_order(self.seasonal_order, 4, "seasonal_order")
        if self.test_file:
            raise UserError("test_file is not used for forecasting: the test part is the end of the series")


def feature_names(config: Config) -> list[str]:
    return [name.strip() for name in config.features.split(",") if name.strip()]


def parse_order(text: str, count: int, option_name: str) -> tuple[int, ...] | None:
    """ "2,0,1" -> (2, 0, 1); empty -> None; anything else is a `UserError`."""
    if not text.strip():
        return None
    try:
        order = tuple(int(part) for part in text.split(","))
    except ValueError:
        order = ()
    if len(order) != count or min(order) < 0:
        raise UserError(f"{option_name}={text!r}: expected {count} non-negative integers separated by commas")
    return order


def resolve_defaults(config: Config) -> Config:
    """The config with the dataset's defaults filled in where it says 0 or ""."""
    defaults = DATASET_DEFAULTS.get(config.dataset, FILE_DEFAULTS)
    changes = {key: value for key, value in defaults.items() if not getattr(config, key)}
    return dataclasses.replace(config, **changes)


@dataclasses.dataclass
class Data:
    """The cleaned series, its windows, and what the export and baselines need."""

    series: windowing.Series
    windows: windowing.Windows
    source: str
    summary: dict


# ---------------------------------------------------------------- data sources


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

    path = sources.Path(statsmodels.datasets.co2.__file__).parent / "co2.csv"
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
    name = config.dataset
    if name == "sunspots":
        return read_sunspots(config), "sunspots (pmdarima 2.1.1 wheel)"
    if name == "co2":
        return read_co2(config), "Mauna Loa CO2 (statsmodels)"
    if name == "electricity":
        return read_electricity(config), "electricity demand (pmdarima 2.1.1 wheel, Taylor 2003)"
    if name.lower().endswith(tuple(FORMATS)):
        return read_user_series(config), str(name)
    raise UserError(f"unknown dataset {name!r} for {TASK}: use {', '.join(DATASETS)}, or a .csv/.tsv/.jsonl file")


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
    return Data(series, windows, source, summary)


# ---------------------------------------------------------------- model


def build_model(config: Config, data: Data) -> keras.Model:
    """RNN stack -> dense head, on normalized windows; compiled.

    direct: one output per horizon step. autoregressive: a one-step model applied
    `horizon` times, each prediction appended to the window (the loop is unrolled: the
    horizon is a fixed, small number). Build it inside the distribution strategy's scope.
    """
    config = resolve_defaults(config)
    columns = len(data.series.columns)
    window = keras.Input(shape=(config.window, columns), name="window")
    if config.mode == "direct":
        forecast = head(window, config, config.horizon)
    else:
        step_input = keras.Input(shape=(config.window, columns), name="step_window")
        one_step = keras.Model(step_input, head(step_input, config, 1), name="one_step")
        steps, current = [], window
        for step in range(config.horizon):
            prediction = one_step(current)
            steps.append(prediction)
            if step < config.horizon - 1:
                fed_back = keras.layers.Reshape((1, 1), name=f"feed_back_{step + 1}")(prediction)
                current = keras.layers.Concatenate(axis=1, name=f"shift_{step + 1}")([current[:, 1:, :], fed_back])
        forecast = steps[0] if config.horizon == 1 else keras.layers.Concatenate(name="steps")(steps)
    model = keras.Model(window, forecast, name=f"forecaster_{config.cell}_{config.mode}")
    loss = keras.losses.Huber() if config.loss == "huber" else "mse"
    model.compile(optimizer=training.make_optimizer(config), loss=loss, metrics=["mae"])
    return model


def head(inputs, config: Config, outputs: int):
    """RNN stack and dense head. With `residual`, the target column is read relative to
    its last value and the head forecasts the change from it, so a series that trends
    beyond its training range (CO2) needs no values the network never saw."""
    if not config.residual:
        hidden = recurrent_stack(inputs, config.cell, config.units, config.num_layers, False, config.dropout)
        # float32 output keeps the regression exact under mixed precision.
        return keras.layers.Dense(outputs, dtype="float32", name="forecast")(hidden)
    last = inputs[:, -1:, 0]  # [batch, 1]: the target at the forecast origin
    relative = keras.layers.Concatenate(axis=-1, name="relative_window")(
        [inputs[:, :, :1] - inputs[:, -1:, :1], inputs[:, :, 1:]]
    )
    hidden = recurrent_stack(relative, config.cell, config.units, config.num_layers, False, config.dropout)
    change = keras.layers.Dense(outputs, dtype="float32", name="change")(hidden)
    return keras.layers.Add(dtype="float32", name="forecast")([change, keras.ops.cast(last, "float32")])


def make_datasets(config: Config, data: Data, replicas: int = 1) -> dict:
    """Normalized tf.data pipelines per part; the global batch grows with the replica count."""
    windows = data.windows
    return {
        part: windowing.window_dataset(
            windows.inputs[part],
            windows.targets[part],
            config.batch_size * replicas,
            windows.normalizer,
            shuffle=part == "train",
            seed=config.seed,
        )
        for part in windowing.PARTS
    }


# ---------------------------------------------------------------- baselines and scores


def model_forecast(model, data: Data, part: str = "test", batch_size: int = 256) -> np.ndarray:
    """The model's forecasts for every window of `part`, in original units."""
    normalizer = data.windows.normalizer
    inputs = normalizer.transform(data.windows.inputs[part]).astype(np.float32)
    predictions = model.predict(inputs, batch_size=batch_size, verbose=0)
    return normalizer.inverse_target(np.asarray(predictions, dtype=np.float64))


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


def linear_forecast(windows: windowing.Windows, part: str = "test", ridge: float = 1e-3) -> np.ndarray:
    """Least squares from the flattened (normalized) window to every horizon step,
    fitted on the training windows; a small ridge keeps constant columns solvable."""
    normalizer = windows.normalizer

    def design(inputs):
        flat = normalizer.transform(inputs).reshape(len(inputs), -1)
        return np.concatenate([flat, np.ones((len(flat), 1))], axis=1)

    train = design(windows.inputs["train"])
    targets = normalizer.transform_target(windows.targets["train"])
    penalty = ridge * np.eye(train.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    weights = np.linalg.solve(train.T @ train + penalty, train.T @ targets)
    return normalizer.inverse_target(design(windows.inputs[part]) @ weights)


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


def evaluate(model, data: Data, config: Config) -> dict:
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


# ---------------------------------------------------------------- plots


def test_axis(data: Data, config: Config):
    """x values for the test targets (their times when the series has them)."""
    indices = target_indices(data.windows.origins["test"], config.window, config.horizon)
    if data.series.times is None:
        return indices, "step"
    return np.asarray(data.series.times)[indices], "time"


def plot_forecasts(data: Data, config: Config, metrics: dict, path) -> None:
    """Forecast vs actual over the test span: step 1 (and the last step when horizon > 1)."""
    plt = reports.plt
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
    plt = reports.plt
    names = ["model", *metrics["baselines"]]
    rows = {"model": metrics, **metrics["baselines"]}
    shown = [key for key in MAIN_METRICS if metrics.get(key) is not None]
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


# ---------------------------------------------------------------- export


def export(model, data: Data, config: Config, path) -> None:
    """SavedModel: `window` (float32 [batch, window, columns], original units) ->
    `forecast` (float32 [batch, horizon], original units). Scaling lives in the graph."""
    config = resolve_defaults(config)
    write_forecaster(model, data.windows.normalizer, config.window, len(data.series.columns), path)


def write_forecaster(model, normalizer: windowing.Normalizer, window: int, columns: int, path) -> None:
    mean = tf.constant(normalizer.mean, dtype=tf.float32)
    scale = tf.constant(normalizer.scale, dtype=tf.float32)

    def serve(windows):
        normalized = (windows - mean) / scale
        forecast = tf.cast(model(normalized, training=False), tf.float32)
        return {"forecast": forecast * scale[0] + mean[0]}

    signature = [tf.TensorSpec([None, window, columns], tf.float32, name="window")]
    write_saved_model(path, serve, signature, [model])


def export_run(run_path, destination) -> None:
    """Rebuild the export of a finished run from its saved model and normalization."""
    config = load_config(Config, run_path / "config.json")
    info = reports.read_json(run_path / "data.json")
    model = keras.models.load_model(run_path / "model.keras")
    normalizer = windowing.Normalizer.from_dict(info["normalizer"])
    write_forecaster(model, normalizer, config.window, len(info["columns"]), destination)


def parse_window(text: str, window: int, columns: int) -> np.ndarray:
    """One window from text: values separated by commas (one column), or rows separated
    by ';' with the columns of a row separated by commas."""
    rows = [row for row in text.replace("\n", ";").split(";") if row.strip()]
    if columns == 1 and len(rows) == 1:
        rows = rows[0].split(",")
    try:
        values = np.array([[float(cell) for cell in row.split(",")] for row in rows], dtype=np.float32)
    except ValueError:
        raise UserError(f"window {text[:60]!r}: every value must be a number") from None
    if values.shape != (window, columns):
        raise UserError(f"a window needs {window} rows of {columns} value(s); got {len(rows)} row(s) in {text[:60]!r}")
    return values


def predict(export_path, inputs: list[str], run_path=None) -> list[dict]:
    """Forecasts from a SavedModel export. With no inputs, the next horizon after the end
    of the run's series, from the last window saved in the run."""
    serving = tf.saved_model.load(str(export_path)).signatures["serving_default"]
    _, window, columns = serving.structured_input_signature[1]["window"].shape
    if inputs:
        batch = np.stack([parse_window(text, window, columns) for text in inputs])
        forecasts = serving(window=tf.constant(batch))["forecast"].numpy()
        return [
            {"input": number, "forecast": [round(float(value), 4) for value in forecast]}
            for number, forecast in enumerate(forecasts, start=1)
        ]
    if run_path is None:
        raise UserError("give windows to forecast (--text or stdin), or a run whose last window to forecast from")
    info = reports.read_json(run_path / "data.json")
    last = np.asarray(info["last_window"], dtype=np.float32)[None]
    forecast = serving(window=tf.constant(last))["forecast"].numpy()[0]
    times = info.get("next_times") or [f"end+{step + 1}" for step in range(len(forecast))]
    return [
        {"step": step + 1, "time": time, info["columns"][0]: round(float(value), 4)}
        for step, (time, value) in enumerate(zip(times, forecast))
    ]


# ---------------------------------------------------------------- one command


def next_times(times, horizon: int) -> list[str] | None:
    """Timestamps of the `horizon` steps after the end of a regular series."""
    if times is None or len(times) < 2:
        return None
    frequency = pandas.infer_freq(times[-min(len(times), 50) :])
    if frequency is None:
        return None
    return [str(time) for time in pandas.date_range(times[-1], periods=horizon + 1, freq=frequency)[1:]]


def save_inputs(config: Config, data: Data, path) -> None:
    save_config(config, path / "config.json")
    info = {
        "columns": data.series.columns,
        "summary": data.summary,
        "normalizer": data.windows.normalizer.to_dict(),
        "bounds": data.windows.bounds,
        "last_window": data.series.values[-config.window :].tolist(),
        "next_times": next_times(data.series.times, config.horizon),
    }
    reports.write_json(info, path / "data.json")


def train(config: Config):
    """`make train TASK=timeseries`: data, run folder, fit, model vs baselines, plots, export."""
    config = resolve_defaults(config)
    config.validate()
    training.set_seeds(config.seed)
    training.set_precision(config.mixed_precision)
    final_path, metrics = training.train_and_export(sys.modules[__name__], config, load_data(config))
    print(describe_scores(metrics))
    print(f"run: {final_path}")
    return final_path


def train_one(config: Config, data: Data, path, strategy) -> tuple[keras.Model, dict]:
    """Fit, score against the baselines on the same test windows, and plot, into `path`."""
    with strategy.scope():
        model = build_model(config, data)
    datasets = make_datasets(config, data, strategy.num_replicas_in_sync)
    history = training.fit(model, datasets["train"], datasets["validation"], config, path)
    reports.plot_learning_curves(history, path / "learning_curves.png", title=f"{TASK}: {model.name}")
    metrics = evaluate(model, data, config)
    plot_forecasts(data, config, metrics, path / "forecast_vs_actual.png")
    plot_comparison(metrics, path / "model_vs_baselines.png", title=f"{data.source}, horizon {config.horizon}")
    reports.write_json(
        {"origins": data.windows.origins["test"].tolist(), **metrics.pop("forecasts")}, path / "test_forecasts.json"
    )
    metrics.update(training.throughput(history, len(data.windows.origins["train"])))
    metrics["parameters"] = int(model.count_params())
    return model, metrics


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


def fetch_builtin() -> None:
    """Fetch and unpack the built-in series (sunspots, electricity from pmdarima; CO2 ships
    with statsmodels), so training needs no network."""
    config = Config()
    for name, reader in (("sunspots", read_sunspots), ("co2", read_co2), ("electricity", read_electricity)):
        series = reader(config)
        print(f"{TASK}: {name} ready, {len(series.values)} values, {series.summary.get('missing_filled', 0)} filled")
