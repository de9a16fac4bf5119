"""The forecaster next to its baselines on sunspots, CO2 and electricity, in one run.

    python -m bench.timeseries_baselines [key=value ...]   (or: make bench-timeseries ARGS="epochs=20")
    python -m bench.timeseries_baselines --datasets sunspots horizon=3

For each dataset: one full `make train TASK=timeseries DATA=<name>` (the same code,
the dataset's default window, season and ARIMA order). `elnino-csv` is the path a user's
own file takes: monthly Pacific sea surface temperatures 1950-2010 (statsmodels' bundled
El Nino data, 732 months) written as a CSV and trained with `season=12`. Then test MAE, RMSE and MASE
(original units, the same test windows for every forecaster) and the ratio of the
model's MAE to each baseline's. Ratios below 1 mean the model is better. The table is
printed and written to runs/timeseries/bench-<time>.md.
"""

import sys
import tempfile
from pathlib import Path

from common import reports, trainer
from common.config import apply_overrides
from common.runs import write_report
from tasks.timeseries.baselines import BASELINES
from tasks.timeseries.task import TASK

FORECASTERS = ("model", *BASELINES)
USER_CSV = "elnino-csv"
# A seasonal ARIMA for the monthly file, as a user would ask for one: (2,0,1)x(0,1,1,12).
USER_CSV_OPTIONS = ["target=temperature", "time_column=month", "season=12", "seasonal_order=0,1,1,12"]


def elnino_csv(folder: Path) -> Path:
    """statsmodels' monthly El Nino sea temperatures as a long CSV: month,temperature."""
    import pandas
    import statsmodels.api as sm

    wide = sm.datasets.elnino.load_pandas().data
    long = wide.melt(id_vars="YEAR", var_name="name", value_name="temperature")
    long["month"] = pandas.to_datetime(long["YEAR"].astype(int).astype(str) + "-" + long["name"], format="%Y-%b")
    path = folder / "elnino.csv"
    long.sort_values("month")[["month", "temperature"]].to_csv(path, index=False)
    return path


def measure(dataset: str, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        own_file = [f"dataset={elnino_csv(Path(folder))}", *USER_CSV_OPTIONS]
        options = own_file if dataset == USER_CSV else [f"dataset={dataset}"]
        config = apply_overrides(TASK.Config(), [*options, *overrides])
        print(f"== {dataset}", file=sys.stderr)
        run_path = trainer.train(TASK, config)
    metrics = reports.read_json(run_path / "metrics.json")
    metrics["run"] = run_path.name
    return metrics


def cell(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def table(results: dict) -> str:
    """One row per dataset: MAE and MASE of each forecaster, then the model's MAE ratios."""
    header = ["dataset", "test windows"]
    header += [f"MAE {name}" for name in FORECASTERS] + ["MASE model", "MASE naive"]
    header += [f"model/{name}" for name in BASELINES] + ["epochs", "train s", "run"]
    lines = []
    for dataset, metrics in results.items():
        rows = {"model": metrics, **metrics["baselines"]}
        values = [dataset, str(metrics["test_windows"])]
        values += [cell(rows[name]["mae"]) if name in rows else "-" for name in FORECASTERS]
        values += [cell(metrics["mase"]), cell(rows["naive"]["mase"])]
        values += [cell(metrics["mae_ratio"].get(name)) for name in BASELINES]
        values += [str(metrics["epochs"]), f"{metrics['training_seconds']:.0f}", metrics["run"]]
        lines.append(values)
    return reports.markdown_table(header, lines)


def main(arguments: list[str]) -> None:
    datasets = [*TASK.datasets, USER_CSV]
    if "--datasets" in arguments:
        position = arguments.index("--datasets")
        datasets = arguments[position + 1].split(",")
        arguments = arguments[:position] + arguments[position + 2 :]
    overrides = ["verbose=2", *arguments]
    results = {dataset: measure(dataset, overrides) for dataset in datasets}
    text = table(results)
    print(f"\nforecasters on the same test windows (options: {' '.join(overrides)})\n")
    print(text)
    for dataset, metrics in results.items():
        ratios = ", ".join(f"{name} {cell(value)}" for name, value in metrics["mae_ratio"].items())
        print(f"{dataset}: model MASE {cell(metrics['mase'])}; model MAE / baseline MAE: {ratios}")
    path = write_report(TASK.name, "bench", text)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
