"""Side-by-side comparison of RNN types on one task, same data, same budget."""

import dataclasses

from common import reports
from common.errors import UserError
from common.runs import write_report

# Each variant overrides the task's defaults; everything else stays the same.
VARIANTS = {
    "simple_rnn": {"cell": "simple_rnn", "bidirectional": False, "num_layers": 1},
    "gru": {"cell": "gru", "bidirectional": False, "num_layers": 1},
    "lstm": {"cell": "lstm", "bidirectional": False, "num_layers": 1},
    "bidirectional_lstm": {"cell": "lstm", "bidirectional": True, "num_layers": 1},
    "stacked_bidirectional_lstm": {"cell": "lstm", "bidirectional": True, "num_layers": 2},
    "no_recurrence": {"cell": "none", "bidirectional": False, "num_layers": 1},
}
REPORTED = ("parameters", "epochs", "training_seconds", "examples_per_second")


def compare(task, base_config, variants=tuple(VARIANTS)) -> str:
    """Train every variant the task accepts; write and return a Markdown table.

    A variant the task refuses (say, bidirectional for a forecaster) is listed with
    the task's reason instead of a result.
    """
    rows = []
    for name in variants:
        try:
            config = dataclasses.replace(base_config, **VARIANTS[name], run_name="")
            config.validate()
        except UserError as refusal:
            rows.append((name, None, str(refusal)))
            continue
        print(f"== {name}")
        run_path = task.train(config)
        rows.append((name, reports.read_json(run_path / "metrics.json"), run_path.name))
    table = comparison_table(task.MAIN_METRICS, rows)
    path = write_report(task.TASK, "comparison", table)
    print(table)
    print(f"\nwritten to {path}")
    return table


def comparison_table(metric_names, rows) -> str:
    header = ["variant", *metric_names, *REPORTED, "run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, metrics, note in rows:
        if metrics is None:
            lines.append(f"| {name} | " + " | ".join(["-"] * (len(header) - 2)) + f" | not run: {note} |")
            continue
        values = [format_value(metrics.get(key)) for key in (*metric_names, *REPORTED)]
        lines.append(f"| {name} | " + " | ".join(values) + f" | {note} |")
    return "\n".join(lines)


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return "-" if value is None else str(value)
