"""The forecasting task: the contract of `common.task` filled in from this package's modules."""

from common import reports
from common.task import RECURRENT_VARIANTS, Task
from tasks.timeseries import config, data, metrics, model, plots, serve


def describe(series) -> str:
    return f"{len(series.values)} values, {series.summary.get('missing_filled', 0)} filled"


class TimeseriesTask(Task):
    name = "timeseries"
    summary = "a window of past values in, the next values out; sunspots by default"
    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
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

    def load_data(self, options):
        return data.load_data(options)

    def build_model(self, options, assets):
        return model.build_model(options, assets)

    def make_datasets(self, options, task_data, global_batch_size, input_context=None):
        return data.make_datasets(options, task_data, global_batch_size, input_context)

    def evaluate(self, trained, options, task_data, run_path):
        """Model and baselines on the same test windows, the two plots, and every test
        forecast in `test_forecasts.json` (kept out of metrics.json: it is long)."""
        scores = metrics.evaluate(trained, options, task_data)
        plots.plot_forecasts(task_data, options, scores, run_path / "forecast_vs_actual.png")
        title = f"{task_data.source}, horizon {options.horizon}"
        plots.plot_comparison(scores, run_path / "model_vs_baselines.png", title=title)
        forecasts = {"origins": task_data.windows.origins["test"].tolist(), **scores.pop("forecasts")}
        reports.write_json(forecasts, run_path / "test_forecasts.json")
        return scores

    def signatures(self, trained, options, assets):
        return serve.signatures(trained, options, assets)

    def predict(self, export, inputs):
        return serve.predict(export, inputs)

    def result_line(self, scores):
        return metrics.describe_scores(scores)

    def variants(self):
        # A forecaster must not read the future: no bidirectional rows.
        return dict(RECURRENT_VARIANTS)


TASK = TimeseriesTask()
