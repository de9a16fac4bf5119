"""The comparison of RNN types: seeds summarised, verdicts, the report, resuming."""

import dataclasses
import json
import types

import pytest

from common import compare, reports, runs
from common.cells import CELL_NAMES
from common.config import TrainConfig
from common.task import BIDIRECTIONAL_VARIANTS, RECURRENT_VARIANTS
from tests.helpers import run_cli
from tests.tasks.sentiment.toy import review_rows, write_csv

TOY = ["units=8", "embedding_dim=8", "epochs=1", "batch_size=32", "verbose=0"]


def row(variant, values, parameters=100):
    return {
        "variant": variant,
        "seeds": len(values),
        "errors": [],
        "accuracy": reports.mean_and_spread(values),
        "parameters": parameters,
        "training_seconds": reports.mean_and_spread([10.0]),
        "examples_per_second": None,
        "latency_ms": reports.mean_and_spread([2.5, 3.5]),
        "cudnn": "yes",
        "receptive_field": None,
    }


def test_a_difference_larger_than_the_seeds_spread_gets_a_verdict():
    rows = [row("lstm", [0.80, 0.81, 0.79]), row("simple_rnn", [0.70, 0.71, 0.69]), row("gru", [0.80, 0.78, 0.82])]
    lines = compare.verdicts(rows, "accuracy")
    assert lines[0].startswith("- **lstm** is better than **simple_rnn** on accuracy: 0.8 vs 0.7")
    assert any(line.startswith("- **gru** is better than **simple_rnn**") for line in lines)
    assert lines[-1] == "- No clear difference (within the seeds' spread): lstm and gru."


def test_no_clear_difference_and_too_few_seeds_are_said_plainly():
    close = [row("lstm", [0.80, 0.70]), row("gru", [0.75, 0.78])]
    assert compare.verdicts(close, "accuracy") == [
        "- No clear difference between any two variants on accuracy at this data size."
    ]
    assert compare.verdicts([row("lstm", [0.8]), row("gru", [0.7])], "accuracy")[0].startswith("No verdict")


def test_for_an_error_measure_lower_is_better():
    rows = [row("lstm", [12.0, 12.1]), row("simple_rnn", [15.0, 15.2])]
    for summary in rows:
        summary["mae"] = summary.pop("accuracy")
    assert compare.verdicts(rows, "mae")[0].startswith("- **lstm** is better than **simple_rnn** on mae")


def test_the_table_shows_mean_and_spread_costs_and_errors():
    failed = row("gru", [0.7]) | {"errors": ["failed: RuntimeError: boom"], "seeds": 1}
    lines = compare.comparison_table([row("lstm", [0.8, 0.82], 12345), failed], ["accuracy"]).splitlines()
    header = "| variant | seeds | accuracy | parameters | train s | examples/s | cuDNN | export ms (1 input) |"
    assert lines[0] == header
    assert lines[2] == "| lstm | 2 | 0.81 ± 0.014 | 12,345 | 10 | - | yes | 3 ± 0.71 |"
    assert lines[3].startswith("| gru (failed: RuntimeError: boom) | 1 | 0.7 |")


def test_compare_writes_the_report_resumes_and_reports_a_failing_row(tmp_path, monkeypatch, isolated_runs):
    data = write_csv(tmp_path / "reviews.csv", review_rows(200))
    options = ["compare", "sentiment", f"dataset={data}", *TOY, "variants=gru,no_recurrence", "seeds=1"]
    assert run_cli(*options) == 0
    [report] = (isolated_runs / "sentiment").glob("comparison-*")
    assert {path.name for path in report.iterdir()} == {
        "comparison.md",
        "results.json",
        "metric_vs_time.png",
        "metric_vs_parameters.png",
        "learning_curves.png",
    }
    results = json.loads((report / "results.json").read_text())
    assert [summary["variant"] for summary in results["summary"]] == ["gru", "no_recurrence"]
    assert all(run["latency_ms"] > 0 and run["metrics"]["accuracy"] >= 0 for run in results["runs"])
    assert "| gru | 1 |" in (report / "comparison.md").read_text()

    # The same command again trains nothing: both rows are found finished.
    def no_training(*arguments):
        raise AssertionError("a finished row was trained again")

    monkeypatch.setattr(compare.trainer, "train", no_training)
    assert run_cli(*options) == 0
    # A row that fails is reported with its error; the others still run.
    assert run_cli(*options[:-2], "variants=gru,lstm", "seeds=1") == 0
    latest = max((isolated_runs / "sentiment").glob("comparison-*"))
    text = (latest / "comparison.md").read_text()
    assert "| gru | 1 |" in text and "lstm (failed: AssertionError: a finished row was trained again)" in text


def test_a_run_saved_before_an_option_was_added_is_found_at_that_options_default(isolated_runs):
    from tests.common.test_runs import WithAddedOption

    task = types.SimpleNamespace(name="toy", prepare_config=lambda config: config)
    before = TrainConfig(epochs=6)
    folder = isolated_runs / "toy" / f"20261206-000000-lstm-{runs.config_hash(before)}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(before)))
    (folder / "metrics.json").write_text("{}")
    assert compare.finished_run(task, WithAddedOption(epochs=6)) == folder
    assert compare.finished_run(task, WithAddedOption(epochs=6, smoothing=0.1)) is None


def test_a_run_is_found_whichever_way_its_own_split_was_spelled(isolated_runs):
    task = types.SimpleNamespace(name="toy", prepare_config=lambda config: config)
    default_command = TrainConfig(seed=43)  # split_seed=0: the seed's own split
    folder = isolated_runs / "toy" / f"20261207-000000-lstm-{runs.config_hash(default_command)}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(default_command)))
    (folder / "metrics.json").write_text("{}")
    assert compare.finished_run(task, TrainConfig(seed=43, split_seed=43)) == folder  # as compare spells it
    assert compare.finished_run(task, TrainConfig(seed=43, split_seed=42)) is None  # another split
    assert compare.finished_run(task, TrainConfig(seed=42, split_seed=43)) is None  # another seed


@pytest.mark.parametrize("option, message", [("seeds=x", "seeds='x'"), ("variants=gru,nope", "unknown variant")])
def test_bad_comparison_options_are_one_line_errors(option, message, capsys):
    assert run_cli("compare", "sentiment", option) == 2
    assert message in capsys.readouterr().err


def test_seeds_change_initialisation_but_every_row_keeps_the_same_split(tmp_path, monkeypatch):
    from tasks import get_task

    task = get_task("sentiment")
    seen = []

    def fake_train(task, config):
        seen.append((config.seed, config.data_split_seed, config.cell))
        run = tmp_path / f"run-{len(seen)}"
        run.mkdir()
        (run / "metrics.json").write_text('{"accuracy": 0.5}')
        return run

    monkeypatch.setattr(compare.trainer, "train", fake_train)
    monkeypatch.setattr(compare, "write_report", lambda *arguments: None)
    compare.compare(task, task.Config(seed=7), ["gru", "lstm"], seeds=2)
    assert seen == [(7, 7, "gru"), (8, 7, "gru"), (7, 7, "lstm"), (8, 7, "lstm")]


def test_a_tcn_row_shows_its_receptive_field():
    tcn = row("tcn", [0.7, 0.72]) | {"cudnn": "n/a", "receptive_field": 61}
    assert compare.comparison_table([tcn], ["accuracy"]).splitlines()[2].startswith("| tcn (receptive field 61) | 2 |")


def test_every_variant_names_a_known_cell():
    for variants in (RECURRENT_VARIANTS, BIDIRECTIONAL_VARIANTS):
        assert {"peephole_lstm", "leaky_rnn", "tcn"} <= set(variants)
        assert all(variant["cell"] in CELL_NAMES for variant in variants.values())


def test_comparing_every_task_adds_an_index_of_their_reports(isolated_runs):
    folders = {}
    for name in ("sentiment", "timeseries"):
        folder = isolated_runs / name / "comparison-20260101-000000"
        folder.mkdir(parents=True)
        (folder / "comparison.md").write_text(f"# Comparison of RNN types: {name}\n\n| table of {name} |\n")
        folders[name] = folder
    index = compare.write_index(folders).read_text()
    assert (
        "## sentiment ([sentiment/comparison-20260101-000000](sentiment/comparison-20260101-000000/comparison.md))"
        in index
    )
    assert "| table of timeseries |" in index and index.count("# Comparison of RNN types:") == 0
