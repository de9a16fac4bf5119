"""Side-by-side comparison of RNN types on one task: every variant trained with several
seeds on the same split, with the same epoch budget and early stopping.

`make compare TASK=sentiment` writes `runs/<task>/comparison-<time>/`: `comparison.md`
(mean ± std per variant, cost columns, a verdict per pair of variants, the command),
`results.json`, `metric_vs_time.png`, `metric_vs_parameters.png` and
`learning_curves.png`. Each row is an ordinary run, so a comparison stopped halfway
resumes when the same command runs again: finished rows are found by their config and
not trained again, the interrupted one continues from its last epoch. A row that fails
is reported with its error and the others still run.
"""

import dataclasses
import datetime
import itertools
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from common import distribution, reports, runs, trainer  # noqa: E402
from common.errors import UserError  # noqa: E402
from common.export import load_export  # noqa: E402

SEEDS = 3
# Metrics where a smaller value is better (everything else: larger is better).
LOWER_IS_BETTER = ("loss", "perplexity", "bits", "mae", "rmse", "mase", "smape", "mape")
LATENCY_CALLS = 20  # timed calls of the export on one input (after one untimed call)


@dataclasses.dataclass
class Trained:
    """One variant trained with one seed: its finished run, or why there is none."""

    variant: str
    seed: int
    run_path: Path | None = None
    metrics: dict | None = None
    latency_ms: float | None = None
    error: str = ""


def compare(task, base_config, variants=None, seeds: int = SEEDS, command: str = "") -> Path:
    """Train each of the task's variants (`task.variants()`, or the names given) with
    `seeds` seeds (base_config.seed, +1, ...); write the report; return its folder."""
    if distribution.read_cluster()["workers"] > 1:
        raise UserError("compare trains on one machine; unset TF_CONFIG (make train runs on several workers)")
    if seeds < 1:
        raise UserError(f"seeds={seeds}: train each variant with at least one seed")
    known = task.variants()
    names = variants or list(known)
    trained = []
    for number, (name, seed) in enumerate(itertools.product(names, range(base_config.seed, base_config.seed + seeds))):
        print(f"== {name}, seed {seed} ({number + 1} of {len(names) * seeds})", flush=True)
        trained.append(train_row(task, base_config, name, known[name], seed))
    return write_report(task, trained, names, command or command_line(), task.monitoring(base_config)[0])


def train_row(task, base_config, name: str, overrides: dict, seed: int) -> Trained:
    """One row's seed: trained, found already trained, refused by the config, or failed."""
    try:
        # Seeds change initialisation, dropout and data order; the split stays the base one.
        split_seed = base_config.data_split_seed
        config = dataclasses.replace(base_config, **overrides, seed=seed, split_seed=split_seed, run_name="")
        config.validate()
    except UserError as refusal:
        return Trained(name, seed, error=f"not run: {refusal}")
    try:
        run_path = finished_run(task, config)
        if run_path:
            print(f"already trained: {run_path.name}")
        else:
            run_path = trainer.train(task, config)
        metrics = reports.read_json(run_path / "metrics.json")
        return Trained(name, seed, run_path, metrics, export_latency(task, run_path))
    except Exception as error:  # noqa: BLE001 - one failing row must not stop the others
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"{name}, seed {seed} failed: {type(error).__name__}: {message}", file=sys.stderr)
        return Trained(name, seed, error=f"failed: {type(error).__name__}: {message}")


def finished_run(task, config) -> Path | None:
    """The newest finished run of exactly this config (same resolved options and epochs),
    whichever way its split was spelled."""
    for spelling in split_spellings(config):
        if path := finished_run_spelled(task, spelling):
            return path
    return None


def split_spellings(config) -> list:
    """`split_seed=0` means the seed's own split, so `seed=S split_seed=S` and
    `seed=S split_seed=0` are one run saved under two ids: `make compare` writes the
    split out, the default command and the seeds bench leave it 0."""
    if config.split_seed == 0:
        return [config, dataclasses.replace(config, split_seed=config.seed)]
    if config.split_seed == config.seed:
        return [config, dataclasses.replace(config, split_seed=0)]
    return [config]


def finished_run_spelled(task, config) -> Path | None:
    resolved = task.prepare_config(dataclasses.replace(config))
    resolved.validate()
    wanted = {key: value for key, value in dataclasses.asdict(resolved).items() if key not in runs.NOT_HASHED}
    # A run saved before an option was added ran it at its default.
    defaults = runs.added_option_defaults(resolved)
    root = runs.runs_root() / task.name
    for path in sorted(root.glob(f"*-{runs.config_hash(resolved)}"), reverse=True):
        if not (path / "metrics.json").is_file() or not (path / "config.json").is_file():
            continue
        saved = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if all(saved.get(key, defaults.get(key)) == value for key, value in wanted.items()):
            return path
    return None


def export_latency(task, run_path: Path) -> float | None:
    """Median milliseconds of the run's export answering one raw input (the task's
    example), loaded as a server would load it."""
    export_path = run_path / "export"
    if not (export_path / "saved_model.pb").is_file():
        return None
    export = load_export(export_path)
    task.predict(export, list(task.example_input))  # the first call traces and warms up
    times = []
    for _ in range(LATENCY_CALLS):
        started = time.perf_counter()
        task.predict(export, list(task.example_input))
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


# ---------------------------------------------------------------- the report


def lower_is_better(metric: str) -> bool:
    return any(part in metric for part in LOWER_IS_BETTER)


def summarize(trained: list[Trained], names: list[str], metric_names) -> list[dict]:
    """One dict per variant: mean ± std of each metric over its seeds, and the costs."""
    rows = []
    for name in names:
        done = [row for row in trained if row.variant == name and row.metrics]
        errors = sorted({row.error for row in trained if row.variant == name and row.error})
        summary = {"variant": name, "seeds": len(done), "errors": errors}
        for key in (*metric_names, "training_seconds", "examples_per_second"):
            values = [row.metrics[key] for row in done if row.metrics.get(key) is not None]
            summary[key] = reports.mean_and_spread(values) if values else None
        latencies = [row.latency_ms for row in done if row.latency_ms is not None]
        summary["latency_ms"] = reports.mean_and_spread(latencies) if latencies else None
        summary["parameters"] = done[0].metrics.get("parameters") if done else None
        # cuDNN or not explains the speed; a TCN's receptive field its reach (common.cells.speed_notes).
        summary["cudnn"] = done[0].metrics.get("cudnn") if done else None
        summary["receptive_field"] = done[0].metrics.get("receptive_field") if done else None
        rows.append(summary)
    return rows


def verdicts(rows: list[dict], metric: str) -> list[str]:
    """A plain-language line per pair of variants whose means differ by more than the
    seeds' spread (the sum of the two standard deviations), then the pairs that do not."""
    measured = [row for row in rows if row[metric] and len(row[metric]["values"]) > 1]
    if len(measured) < 2:
        return ["No verdict: it needs at least two variants trained with two or more seeds each."]
    clear, unclear = [], []
    for first, second in itertools.combinations(measured, 2):
        a, b = first[metric], second[metric]
        difference, spread = a["mean"] - b["mean"], a["std"] + b["std"]
        if abs(difference) <= spread:
            unclear.append(f"{first['variant']} and {second['variant']}")
            continue
        first_wins = (difference < 0) if lower_is_better(metric) else (difference > 0)
        better, worse = (first, second) if first_wins else (second, first)
        clear.append(
            f"- **{better['variant']}** is better than **{worse['variant']}** on {metric}: "
            f"{better[metric]['mean']:.4g} vs {worse[metric]['mean']:.4g} (difference {abs(difference):.3g}, "
            f"more than the seeds' spread {spread:.3g})"
        )
    lines = clear or [f"- No clear difference between any two variants on {metric} at this data size."]
    if clear and unclear:
        lines.append(f"- No clear difference (within the seeds' spread): {'; '.join(unclear)}.")
    return lines


def format_number(value: float, digits: int = 4) -> str:
    """`digits` significant figures; values too large for them whole, with thousands
    separators (12,345 rather than 1.2e+04)."""
    return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"


def format_spread(value: dict | None, digits: int = 4) -> str:
    if not value:
        return "-"
    if len(value["values"]) == 1:
        return format_number(value["mean"], digits)
    return f"{format_number(value['mean'], digits)} ± {format_number(value['std'], 2)}"


def comparison_table(rows: list[dict], metric_names) -> str:
    """The Markdown table: metrics as mean ± std over seeds, then the cost columns."""
    header = ["variant", "seeds", *metric_names, "parameters", "train s", "examples/s", "cuDNN", "export ms (1 input)"]
    lines = []
    for row in rows:
        cells = [row["variant"], str(row["seeds"])]
        cells += [format_spread(row[name]) for name in metric_names]
        cells.append("-" if row["parameters"] is None else f"{row['parameters']:,}")
        cells += [format_spread(row[key], 3) for key in ("training_seconds", "examples_per_second")]
        cells += [row["cudnn"] or "-", format_spread(row["latency_ms"], 3)]
        if row["receptive_field"]:
            cells[0] += f" (receptive field {row['receptive_field']})"
        if row["errors"]:
            cells[0] += " (" + "; ".join(row["errors"]) + ")"
        lines.append(cells)
    return reports.markdown_table(header, lines)


def write_report(task, trained: list[Trained], names: list[str], command: str, monitor: str) -> Path:
    """runs/<task>/comparison-<time>/, written aside and renamed when complete."""
    metric_names = list(task.main_metrics)
    rows = summarize(trained, names, metric_names)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    final = runs.runs_root() / task.name / f"comparison-{stamp}"
    for number in itertools.count(2):  # two comparisons within one second
        if not final.exists():
            break
        final = final.with_name(f"comparison-{stamp}-{number}")
    folder = runs.runs_root() / task.name / ".incomplete" / final.name
    folder.mkdir(parents=True, exist_ok=True)
    seeds = sorted({row.seed for row in trained})
    table, verdict = comparison_table(rows, metric_names), verdicts(rows, metric_names[0])
    text = [
        f"# Comparison of RNN types: {task.name}",
        "",
        f"`{command}`",
        "",
        f"Seeds {', '.join(map(str, seeds))} (initialisation, dropout, data order); every row on the same split, "
        f"with the same epoch budget and early stopping. Test metrics, mean ± standard deviation over seeds.",
        "",
        table,
        "",
        f"## Verdict ({metric_names[0]}, {'lower' if lower_is_better(metric_names[0]) else 'higher'} is better)",
        "",
        *verdict,
        "",
        "## Runs",
        "",
        *[f"- {row.variant}, seed {row.seed}: {row.run_path.name if row.run_path else row.error}" for row in trained],
    ]
    (folder / "comparison.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    results = [dataclasses.asdict(row) | {"run_path": str(row.run_path or "")} for row in trained]
    reports.write_json({"command": command, "summary": rows, "runs": results}, folder / "results.json")
    plot_metric_against(rows, metric_names[0], "training_seconds", "training seconds", folder / "metric_vs_time.png")
    plot_metric_against(rows, metric_names[0], "parameters", "parameters", folder / "metric_vs_parameters.png")
    plot_learning_curves(trained, monitor, folder / "learning_curves.png")
    os.replace(folder, final)
    print(table + "\n\n" + "\n".join(verdict))
    print(f"\nwritten to {final}")
    return final


# ---------------------------------------------------------------- figures


def plot_metric_against(rows: list[dict], metric: str, cost: str, label: str, path: Path) -> None:
    """The main metric (mean, with the seeds' spread as error bars) against a cost."""
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    for row in rows:
        if not row[metric] or row[cost] is None:
            continue
        x = row[cost]["mean"] if isinstance(row[cost], dict) else row[cost]
        x_error = row[cost]["std"] if isinstance(row[cost], dict) else 0
        axis.errorbar(x, row[metric]["mean"], xerr=x_error, yerr=row[metric]["std"], marker="o", capsize=3)
        axis.annotate(row["variant"], (x, row[metric]["mean"]), textcoords="offset points", xytext=(5, 5))
    if cost == "parameters":
        axis.set_xscale("log")
    axis.set_xlabel(label)
    axis.set_ylabel(f"test {metric}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_learning_curves(trained: list[Trained], monitor: str, path: Path) -> None:
    """The monitored validation value by epoch: one colour per variant, a line per seed."""
    figure, axis = plt.subplots(figsize=(7.5, 4.6))
    colours: dict[str, str] = {}
    for row in trained:
        history_path = row.run_path / "history.csv" if row.run_path else None
        if not history_path or not history_path.is_file():
            continue
        history = pd.read_csv(history_path)
        if monitor not in history:
            continue
        label = None if row.variant in colours else row.variant  # one legend entry per variant
        colour = colours.setdefault(row.variant, f"C{len(colours) % 10}")
        axis.plot(history["epoch"] + 1, history[monitor], color=colour, alpha=0.8, marker=".", label=label)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel(monitor)
    axis.grid(alpha=0.3)
    if colours:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def command_line() -> str:
    return " ".join(shlex.quote(part) for part in ["python", *sys.argv])


def write_index(folders: dict[str, Path]) -> Path:
    """`make compare TASK=all`: runs/comparison-<time>.md, every task's report in one page."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = runs.runs_root() / f"comparison-{stamp}.md"
    parts = ["# Comparison of RNN types on every task", ""]
    for name, folder in folders.items():
        report = (folder / "comparison.md").read_text(encoding="utf-8").split("\n", 1)[1]  # without its title
        link = folder.relative_to(runs.runs_root())
        parts += [f"## {name} ([{link}]({link}/comparison.md))", report]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    print(f"index of every task's comparison: {path}")
    return path
