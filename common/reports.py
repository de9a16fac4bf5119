"""What a run reports: metrics files, classification scores and plots."""

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn import metrics as sklearn_metrics  # noqa: E402


def write_json(values: dict, path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(values, handle, indent=2, sort_keys=True, default=float)
        handle.write("\n")


def print_data_summary(summary: dict) -> None:
    """One line about the data a run trains on, on stderr (stdout stays for results)."""
    print("data: " + ", ".join(f"{key}={value}" for key, value in summary.items()), file=sys.stderr)


def read_json(path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def classification_scores(true_labels, predicted_labels, class_names) -> dict:
    """Accuracy, macro-F1 and a confusion matrix (rows: true class, columns: predicted)."""
    label_ids = list(range(len(class_names)))
    return {
        "accuracy": float(sklearn_metrics.accuracy_score(true_labels, predicted_labels)),
        "macro_f1": float(
            sklearn_metrics.f1_score(true_labels, predicted_labels, labels=label_ids, average="macro", zero_division=0)
        ),
        "confusion_matrix": sklearn_metrics.confusion_matrix(true_labels, predicted_labels, labels=label_ids).tolist(),
    }


def plot_learning_curves(history, path, title: str = "") -> None:
    """One panel per metric (loss first), training and validation together, by epoch."""
    names = [column for column in history.columns if not column.startswith("val_") and f"val_{column}" in history]
    names.sort(key=lambda name: name != "loss")
    figure, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 3.6), squeeze=False)
    epochs = np.asarray(history["epoch"]) + 1
    for axis, name in zip(axes[0], names):
        axis.plot(epochs, history[name], marker="o", label="training")
        axis.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def mean_and_spread(values) -> dict:
    """Mean and sample standard deviation, as cross-validation reports them."""
    values = [float(value) for value in values]
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": spread, "values": values}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table from a header and rows of already formatted cells."""
    for number, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise ValueError(f"markdown_table: row {number} has {len(row)} cells for {len(header)} columns")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
