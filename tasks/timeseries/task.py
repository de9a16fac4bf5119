"""The forecasting task: its own settings, and its package's functions bound to the
contract (`common.task`)."""

from common.task import RECURRENT_VARIANTS, Task
from tasks.timeseries import config, data, metrics, model, serve


def describe(series) -> str:
    return f"{len(series.values)} values, {series.summary.get('missing_filled', 0)} filled"


class TimeseriesTask(Task):
    name = "timeseries"
    summary = "a window of past values in, the next values out; sunspots by default"
    example_input = ()  # no window given: the forecast after the last window of the series
    main_metrics = metrics.MAIN_METRICS

    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
    prepare_config = staticmethod(config.resolve_defaults)
    load_data = staticmethod(data.load_data)
    make_datasets = staticmethod(data.make_datasets)
    build_model = staticmethod(model.build_model)
    evaluate = staticmethod(metrics.evaluate)
    signatures = staticmethod(serve.signatures)
    predict = staticmethod(serve.predict)
    # The linear highway starts from the least-squares fit (nothing to do without one).
    callbacks = staticmethod(model.highway_callbacks)
    result_line = staticmethod(metrics.describe_scores)

    def builtin_sources(self):
        defaults = config.Config()
        return {
            "sunspots": lambda: describe(data.read_sunspots(defaults)),
            "co2": lambda: describe(data.read_co2(defaults)),
            "electricity": lambda: describe(data.read_electricity(defaults)),
        }

    def variants(self):
        # A forecaster must not read the future: no bidirectional rows.
        return dict(RECURRENT_VARIANTS)


TASK = TimeseriesTask()
