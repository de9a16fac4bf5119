"""Forecasting options: refusals with reasons, and the per-dataset defaults."""

import pytest

from common.config import apply_overrides
from common.errors import UserError
from tasks.timeseries.config import Config, resolve_defaults
from tasks.timeseries.task import TASK


@pytest.mark.parametrize(
    "options,message",
    [
        (["mode=sideways"], "mode='sideways'"),
        (["loss=mae"], "loss='mae'"),
        (["mode=autoregressive", "features=temp"], "cannot feed back extra features"),
        (["arima_order=2,0"], "expected 3 non-negative integers"),
        (["horizon=0"], "at least 1"),
        (["test_file=later.csv"], "test_file is not used for forecasting"),
        (["highway=-1"], "highway=.-1.: expected all, off or a number of steps"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(UserError, match=message):
        apply_overrides(Config(), options)


def test_dataset_defaults_fill_only_unset_options():
    resolved = resolve_defaults(Config(dataset="co2", window=10))
    assert resolved.window == 10 and resolved.season == 52 and resolved.seasonal_order == "0,1,0,52"
    # The learning rate too: chosen per series on validation loss.
    assert resolved.learning_rate == 1e-3 and resolve_defaults(Config(dataset="electricity")).learning_rate == 3e-4
    assert resolve_defaults(Config(dataset="electricity", learning_rate=0.01)).learning_rate == 0.01


def test_forecasters_have_no_bidirectional_option_or_variant():
    # A backward pass would read values after the forecast origin.
    with pytest.raises(UserError, match="option 'bidirectional' is refused for this task: a forecaster must never"):
        apply_overrides(Config(), ["bidirectional=true"])
    assert not any("bidirectional" in name for name in TASK.variants())


def test_the_highway_default_is_chosen_per_dataset():
    from tasks.timeseries.config import highway_steps

    steps = {name: highway_steps(resolve_defaults(Config(dataset=name))) for name in ("sunspots", "co2", "electricity")}
    assert steps == {"sunspots": 24, "co2": 0, "electricity": 96}
    assert highway_steps(resolve_defaults(Config(dataset="mine.csv", highway="6"))) == 6
