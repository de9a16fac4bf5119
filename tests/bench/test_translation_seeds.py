"""The translation seeds benchmark's options, cells and verdicts, on made-up runs (no training)."""

import json

import pytest

from bench import translation_seeds
from common import trainer
from common.config import apply_overrides
from common.errors import UserError
from tasks.translation.task import TASK
from tests.tasks.translation.toy import TINY, number_pairs, write_tsv


def run(seed, split_seed, bleu, first=0.03, last=0.05):
    return {
        "seed": seed, "split_seed": split_seed, "bleu": bleu, "chrf": 40.0, "greedy_bleu": bleu - 2,
        "validation_bleu": bleu + 1, "epochs": 9, "training_seconds": 1800.0, "attention_first": first,
        "attention_last": last, "attention_entropy": 0.44, "run": f"run-{seed}-{split_seed}",
    }  # fmt: skip


def test_seeds_and_split_seeds_are_taken_out_and_the_rest_trains_every_cell():
    seeds, splits, train, overrides = translation_seeds.parse_arguments(
        ["seeds=1,2", "split_seeds=7", "train=0", "attention=none"]
    )
    assert (seeds, splits, train, overrides) == ((1, 2), (7,), False, ["attention=none"])
    with pytest.raises(UserError, match="seeds='4x'"):
        translation_seeds.parse_arguments(["seeds=4x"])


def test_the_cell_whose_split_seed_is_its_seed_is_the_default_command():
    default = translation_seeds.cell_config(42, 42, [])
    assert (default.seed, default.split_seed, default.data_split_seed) == (42, 0, 42)
    other = translation_seeds.cell_config(44, 43, ["attention=none"])
    assert (other.seed, other.split_seed, other.attention) == (44, 43, "none")


def test_the_bars_wait_for_every_cell_then_say_which_are_met():
    rows = [run(42, 42, 21.0), run(43, 42, 19.0)]
    partial = translation_seeds.summary_lines(rows, (42, 43), cells=4)
    assert partial[-1] == "- the bars are judged when all 4 runs are finished (2 so far)"
    rows += [run(42, 43, 11.0, last=0.6), run(43, 43, 20.0)]
    lines = "\n".join(translation_seeds.summary_lines(rows, (42, 43), cells=4))
    assert "- split seed 42: BLEU 20.00 ± 1.41 (n=2)" in lines
    assert "every run BLEU ≥ 12: no (lowest 11.00)" in lines
    assert "mean BLEU ≥ 15: yes; std ≤ 2: no" in lines
    assert "0.5 of the attention: no (largest 0.600)" in lines
    single = "\n".join(translation_seeds.summary_lines(rows[:1], (42,), cells=1))
    assert "- split seed 42: BLEU 21.00 (n=1, no spread)" in single  # not "± 0.00"
    assert "std ≤ 2: not judged (one run)" in single
    table = translation_seeds.per_run_table(rows, beam_width=5)
    assert "| 43 | 42 | 11.00 | 40.00 | 9.00 | 12.00 | 9 | 30.0 | 200 | 0.030 / 0.600 | 0.44 | run-42-43 |" in table


def test_runs_without_attention_are_reported_without_an_attention_verdict():
    rows = [run(43, 43, 4.5), run(44, 43, 4.7)]
    for row in rows:  # attention=none records no attention weights
        del row["attention_first"], row["attention_last"], row["attention_entropy"]
    table = translation_seeds.per_run_table(rows, beam_width=5)
    assert "| 43 | 43 | 4.50 | 40.00 | 2.50 | 5.50 | 9 | 30.0 | 200 | no attention | - | run-43-43 |" in table
    lines = translation_seeds.summary_lines(rows, (43,), cells=2)
    assert "every run BLEU ≥ 12: no (lowest 4.50)" in lines[-3] and lines[-1] == "- attention not judged (no attention)"


def test_options_are_paired_with_the_default_on_the_same_cells_on_validation():
    variant = [run(42, 42, 21.0), run(43, 42, 22.0), run(44, 42, 30.0)]
    default = [run(42, 42, 20.0), run(43, 42, 20.0), run(45, 42, 10.0)]  # 44 unpaired, 45 unused
    validation, test = translation_seeds.against_the_default(variant, default)
    assert "validation BLEU (choose on this): 22.50 ± 0.71 (n=2) against 21.00 ± 0.00 (n=2)" in validation
    assert "difference (these options minus the default) 1.50 ± 0.71 (n=2)" in validation
    assert "same 2 cell(s), test BLEU (report only): 21.50 ± 0.71 (n=2) against 20.00 ± 0.00 (n=2)" in test
    (none,) = translation_seeds.against_the_default(variant, [])
    assert "no cell has a finished default run yet" in none


def test_a_run_made_before_validation_scoring_is_scored_as_training_would_have(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SUITE_RUNS", str(tmp_path / "runs"))
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(120, seed=0))
    config = apply_overrides(TASK.Config(), [f"dataset={data}", "epochs=1", "evaluate_limit=8", *TINY])
    run_path = trainer.train(TASK, config)
    trained = json.loads((run_path / "metrics.json").read_text())
    older = {key: value for key, value in trained.items() if not key.startswith("validation_")}
    (run_path / "metrics.json").write_text(json.dumps(older))
    scored = translation_seeds.score_validation_later(run_path, older)
    assert (scored["validation_bleu"], scored["validation_chrf"]) == (
        trained["validation_bleu"],
        trained["validation_chrf"],
    )
    assert json.loads((run_path / "metrics.json").read_text()) == scored and scored["validation_scored_later"]
