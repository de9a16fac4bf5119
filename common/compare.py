"""Side-by-side comparison of RNN types on one task, same data, same budget."""

import dataclasses

from common import reports, trainer
from common.errors import UserError
from common.runs import write_report

# `cudnn` sits next to the speed it explains; `receptive_field` is a TCN's (common.cells.speed_notes).
REPORTED = ("parameters", "epochs", "training_seconds", "examples_per_second", "cudnn", "receptive_field")


def compare(task, base_config, variants=None) -> str:
    """Train each of the task's variants (`task.variants()`, or the names given) with
    the same data and budget; write and return a Markdown table.

    A variant the config refuses is listed with its reason instead of a result.
    """
    if trainer.distribution.read_cluster()["workers"] > 1:
        raise UserError("compare trains on one machine; unset TF_CONFIG (make train runs on several workers)")
    known = task.variants()
    rows = []
    for name in variants or list(known):
        try:
            config = dataclasses.replace(base_config, **known[name], run_name="")
            config.validate()
        except UserError as refusal:
            rows.append((name, None, str(refusal)))
            continue
        print(f"== {name}")
        run_path = trainer.train(task, config)
        rows.append((name, reports.read_json(run_path / "metrics.json"), run_path.name))
    table = comparison_table(task.main_metrics, rows)
    path = write_report(task.name, "comparison", table)
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
