"""The forecasting task: what is its own; the contract's functions live in this package's
data, model, metrics and serve modules (see `common.task`)."""

from common.task import RECURRENT_VARIANTS, Task
from tasks.timeseries import config, data, metrics, model


def describe(series) -> str:
    return f"{len(series.values)} values, {series.summary.get('missing_filled', 0)} filled"


class TimeseriesTask(Task):
    name = "timeseries"
    summary = "a window of past values in, the next values out; sunspots by default"
    example_input = ()  # no window given: the forecast after the last window of the series
    main_metrics = metrics.MAIN_METRICS

    def prepare_config(self, options):
        return config.resolve_defaults(options)

    def builtin_sources(self):
        defaults = config.Config()
        return {
            "sunspots": lambda: describe(data.read_sunspots(defaults)),
            "co2": lambda: describe(data.read_co2(defaults)),
            "electricity": lambda: describe(data.read_electricity(defaults)),
        }

    def callbacks(self, options, loaded):
        if not config.highway_steps(options):
            return []
        return [model.StartFromLinear(*model.least_squares_highway(options, loaded.windows))]

    def result_line(self, scores):
        return metrics.describe_scores(scores)

    def variants(self):
        # A forecaster must not read the future: no bidirectional rows.
        return dict(RECURRENT_VARIANTS)


TASK = TimeseriesTask()
