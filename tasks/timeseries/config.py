"""Forecasting options, and the defaults that depend on the series."""

import dataclasses
from typing import ClassVar

from common.config import RecurrentOptions, TrainConfig, option
from common.errors import UserError

DATASET_DEFAULTS = {
    # No calendar season in sunspots: the season is the ~11-year solar cycle (132 months).
    # The highway and the learning rate were chosen on validation loss: the highway helps
    # sunspots and electricity, not co2; 3e-4 (fine-tuning from the linear start more
    # gently) helps electricity only.
    "sunspots": {
        "window": 24,
        "season": 132,
        "arima_order": "2,0,1",
        "seasonal_order": "",
        "highway": "all",
        "learning_rate": 1e-3,
    },
    "co2": {
        "window": 52,
        "season": 52,
        "arima_order": "1,1,1",
        "seasonal_order": "0,1,0,52",
        "highway": "off",
        "learning_rate": 1e-3,
    },
    # Two seasons: a day (48 half-hours) and a week (336); seasonal naive uses the week.
    "electricity": {
        "window": 96,
        "season": 336,
        "arima_order": "2,0,1",
        "seasonal_order": "0,1,0,48",
        "highway": "all",
        "learning_rate": 3e-4,
    },
}

FILE_DEFAULTS = {
    "window": 24,
    "season": 0,
    "arima_order": "2,0,1",
    "seasonal_order": "",
    "highway": "all",
    "learning_rate": 1e-3,
}

DATASETS = tuple(DATASET_DEFAULTS)
USER_FILES = "a CSV/TSV/JSONL file of your own"

MODES = ("direct", "autoregressive")

LOSSES = ("mse", "huber")


@dataclasses.dataclass
class Config(RecurrentOptions, TrainConfig):
    """No `bidirectional` option: a forecaster must never read values after its origin."""

    REFUSED_OPTIONS: ClassVar[dict[str, str]] = {
        "bidirectional": "a forecaster must never read values after its forecast origin",
    }

    dataset: str = option("sunspots", f"{', '.join(DATASETS)}, or {USER_FILES}")
    target: str = option("", "column to forecast, in your own file")
    features: str = option("", "comma-separated extra input columns, in your own file")
    time_column: str = option("", "date/time column, in your own file (parsed, sorted, gaps filled)")
    time_format: str = option("", "strftime format of time_column (default: pandas guesses)")
    max_missing_share: float = option(0.05, "interpolate up to this share of missing values per column, else error")
    window: int = option(0, "input steps per window (0: the dataset's default)")
    horizon: int = option(1, "steps ahead to forecast")
    stride: int = option(1, "steps between training windows (validation/test use every window)")
    mode: str = option("direct", "direct (one output per step) or autoregressive (feed predictions back)")
    units: int = option(64, "units per recurrent layer")
    dropout: float = option(0.0, "dropout on the inputs of each recurrent layer")
    loss: str = option("mse", "mse or huber (on the normalized scale)")
    residual: bool = option(True, "forecast the change from the window's last value (trending series need it)")
    learning_rate: float = option(0.0, "Adam learning rate (0: the dataset's default, 3e-4 for electricity, else 1e-3)")
    highway: str = option(
        "",
        "linear highway (LSTNet) added to the forecast: all (the whole window), off, or N (its last N steps); "
        "'': chosen per dataset on validation (off for co2), all for your own files",
    )
    season: int = option(0, "season length for seasonal naive (0: the dataset's default; none for own files)")
    arima_order: str = option("", "ARIMA baseline order p,d,q (empty: the dataset's default)")
    seasonal_order: str = option("", "ARIMA baseline seasonal order P,D,Q,s (empty: the dataset's default)")
    epochs: int = option(40, "maximum training epochs (early stopping may end sooner)")
    patience: int = option(6, "early stopping: epochs without validation improvement")

    def validate(self):
        super().validate()
        self.check_choice("mode", MODES)
        self.check_choice("loss", LOSSES)
        if self.mode == "autoregressive" and feature_names(self):
            raise UserError("mode=autoregressive cannot feed back extra features (their future is unknown); use direct")
        if min(self.horizon, self.stride) < 1 or self.window < 0 or self.season < 0 or self.season < 0:
            raise UserError("horizon and stride must be at least 1; window and season at least 0")
        highway_steps(self)
        if not 0 <= self.max_missing_share < 1:
            raise UserError("max_missing_share must be in [0, 1)")
        parse_order(self.arima_order, 3, "arima_order")
        parse_order(self.seasonal_order, 4, "seasonal_order")
        if self.test_file:
            raise UserError("test_file is not used for forecasting: the test part is the end of the series")


def highway_steps(config: Config) -> int:
    """How many of the window's last steps the highway reads: 0 when off."""
    if config.highway in ("", "all"):
        return config.window
    if config.highway == "off":
        return 0
    if not config.highway.isdigit() or int(config.highway) < 1:
        raise UserError(f"highway={config.highway!r}: expected all, off or a number of steps of at least 1")
    return min(int(config.highway), config.window) if config.window else int(config.highway)


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
