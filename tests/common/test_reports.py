import pandas
import pytest

from common import reports


def test_classification_scores_on_known_inputs():
    # class 0: tp=1 fp=1 fn=1 -> f1 0.5; class 1: tp=1 fp=1 fn=1 -> 0.5; class 2: tp=1 -> 1.0
    scores = reports.classification_scores([0, 0, 1, 1, 2], [0, 1, 1, 0, 2], ["a", "b", "c"])
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["macro_f1"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert scores["confusion_matrix"] == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_mean_and_sample_spread():
    summary = reports.mean_and_spread([0.7, 0.8, 0.9])
    assert summary["mean"] == pytest.approx(0.8) and summary["std"] == pytest.approx(0.1)


def test_markdown_table_lines_up_header_and_rows():
    table = reports.markdown_table(["a", "b"], [["1", "2"], ["3", "4"]])
    assert table == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
    with pytest.raises(ValueError, match="row 2 has 1 cells for 2 columns"):
        reports.markdown_table(["a", "b"], [["1", "2"], ["3"]])


def test_learning_curve_png(tmp_path):
    history = pandas.DataFrame(
        {
            "epoch": [0, 1],
            "loss": [1, 0.5],
            "val_loss": [1.1, 0.7],
            "accuracy": [0.5, 0.7],
            "val_accuracy": [0.4, 0.6],
            "epoch_seconds": [1, 1],
        }
    )
    reports.plot_learning_curves(history, tmp_path / "curves.png", title="toy")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
