"""Tagger variants next to the per-word baseline, in one run.

    python -m bench.tagging_variants [key=value ...]     (or: make bench-tagging ARGS="epochs=8")
    python -m bench.tagging_variants --wnut-epochs 8 --wsj-epochs 20   (default: Config.epochs)

On wnut16 (same seed, same split): softmax vs CRF output, each without and with the
character CNN, each a full `make train TASK=tagging` with those options; every row
shows entity precision, recall and F1 (seqeval, exact spans) and token accuracy on
the held-out test tweets, and the per-word baseline (most frequent training tag per
word) on the same tweets. Then wsj_pos with the default BiLSTM (CRF + characters):
token accuracy against the baseline. The table is printed and written to
runs/tagging/bench-<time>.md.
"""

import sys

from common import reports, trainer
from common.config import apply_overrides
from common.runs import write_report
from tasks.tagging.task import TASK

WNUT_VARIANTS = {
    "softmax": ["crf=false", "char_features=false"],
    "softmax + chars": ["crf=false", "char_features=true"],
    "CRF": ["crf=true", "char_features=false"],
    "CRF + chars": ["crf=true", "char_features=true"],
}


def measure(dataset: str, overrides: list[str]) -> dict:
    config = apply_overrides(TASK.Config(), [f"dataset={dataset}", *overrides])
    print(f"== {dataset} {' '.join(overrides)}", file=sys.stderr)
    run_path = trainer.train(TASK, config)
    return dict(reports.read_json(run_path / "metrics.json"), run=run_path.name)


def cell(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(rows: dict) -> str:
    header = ["dataset", "model", "entity P", "entity R", "entity F1", "token acc", "epochs", "train s", "run"]
    lines, baselines = [], {}
    for (dataset, name), metrics in rows.items():
        baselines[dataset] = metrics["baseline"]
        values = [dataset, name] + [cell(metrics.get(key)) for key in ("precision", "recall", "f1", "token_accuracy")]
        values += [str(metrics["epochs"]), f"{metrics['training_seconds']:.0f}", metrics["run"]]
        lines.append(values)
    for dataset, baseline in baselines.items():
        values = [dataset, "per-word baseline"]
        values += [cell(baseline.get(key)) for key in ("precision", "recall", "f1", "token_accuracy")]
        lines.append(values + ["-", "-", "-"])
    return reports.markdown_table(header, lines)


def take(arguments: list[str], flag: str, default: int | None) -> tuple[int | None, list[str]]:
    if flag not in arguments:
        return default, arguments
    position = arguments.index(flag)
    return int(arguments[position + 1]), arguments[:position] + arguments[position + 2 :]


def main(arguments: list[str]) -> None:
    # Without the flags every run keeps Config.epochs (early stopping on validation tag F1).
    wnut_epochs, arguments = take(arguments, "--wnut-epochs", None)
    wsj_epochs, arguments = take(arguments, "--wsj-epochs", None)
    wnut_options = [f"epochs={wnut_epochs}"] if wnut_epochs else []
    wsj_options = [f"epochs={wsj_epochs}"] if wsj_epochs else []
    overrides = ["verbose=2", *arguments]
    rows = {}
    for name, options in WNUT_VARIANTS.items():
        rows[("wnut16", name)] = measure("wnut16", [*wnut_options, *options, *overrides])
    rows[("wsj_pos", "BiLSTM + CRF + chars")] = measure("wsj_pos", [*wsj_options, *overrides])
    text = table(rows)
    print(f"\ntaggers and the per-word baseline on held-out test sentences (options: {' '.join(overrides)})\n")
    print(text)
    path = write_report(TASK.name, "bench", text)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
