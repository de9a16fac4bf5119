"""The determinism benchmark's arithmetic and table, on made-up histories (no training)."""

import pandas
import pytest

from bench import determinism


def history(seconds, val_loss, loss=(0.7, 0.6, 0.5)):
    count = len(seconds)
    return pandas.DataFrame(
        {"epoch": range(count), "epoch_seconds": seconds, "loss": loss[:count], "val_loss": val_loss}
    )


def test_the_first_epoch_is_left_out_and_on_off_is_the_ratio_of_medians():
    on = [history([9.0, 2.0, 4.0], [0.5, 0.4, 0.3]), history([9.0, 3.0, 3.0], [0.5, 0.4, 0.3])]
    off = [history([8.0, 2.0, 2.0], [0.5, 0.4, 0.31]), history([8.0, 2.0, 2.0], [0.5, 0.4, 0.3])]
    row = determinism.table_row("sentiment", on, off)
    assert determinism.steady_seconds(on) == [2.0, 4.0, 3.0, 3.0]
    assert (row["on"], row["off"], row["ratio"]) == (3.0, 2.0, 1.5)
    assert (row["repeats"], row["epochs timed"], row["same on"], row["same off"]) == (2, 4, "yes", "no")
    assert row["off val_loss spread"] == pytest.approx(0.01)
    table = determinism.format_table([row])
    assert "| sentiment | epochs=3 | 3.00 | 2.00 | 1.500 | 2 | 4 | yes | no | 0.01 |" in table


def test_same_result_ignores_the_times_and_needs_two_runs():
    first, second = history([5.0, 1.0], [0.5, 0.4]), history([7.0, 2.0], [0.5, 0.4])
    assert determinism.same_result([first, second]) == "yes"
    assert determinism.same_result([first]) == "n/a"
    assert determinism.same_result([first, history([5.0, 1.0], [0.5, 0.4000001])]) == "no"
    one = determinism.table_row("timeseries", [first], [second])
    assert "| n/a | n/a | n/a |" in determinism.format_table([one])


def test_a_history_torn_by_the_kill_keeps_its_whole_rows(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,epoch_seconds,val_loss\n0,1.5,0.5\n1,1.2,0.4\n2,1.", encoding="utf-8")
    assert determinism.whole_rows(path) == 2
    assert determinism.read_history(path)["val_loss"].tolist() == [0.5, 0.4]
    assert determinism.whole_rows(tmp_path / "missing.csv") == 0


def test_arguments():
    assert determinism.parse([]) == (list(determinism.TASKS), 2)
    assert determinism.parse(["tasks=tagging,sentiment", "repeats=1"]) == (["tagging", "sentiment"], 1)
    for bad in (["tasks=poetry"], ["repeats=0"], ["epochs=3"]):
        with pytest.raises(SystemExit):
            determinism.parse(bad)
