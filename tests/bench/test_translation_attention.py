"""The translation attention benchmark reuses finished runs (toy size)."""

import pytest

from bench import translation_attention
from common import trainer
from tests.tasks.translation.toy import TINY, number_pairs, write_tsv


def test_a_variant_with_a_finished_run_is_not_trained_again(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SUITE_RUNS", str(tmp_path / "runs"))
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(120, seed=0))
    overrides = [f"dataset={data}", "epochs=1", "evaluate_limit=8", *TINY]
    _, trained, metrics = translation_attention.measure("none", overrides)

    def no_training(*_):
        raise AssertionError("trained again")

    monkeypatch.setattr(trainer, "train", no_training)
    # Verbosity is not part of a run.
    _, reused, again = translation_attention.measure("none", [*overrides, "verbose=2"])
    assert reused == trained and again == metrics
    with pytest.raises(AssertionError, match="trained again"):
        translation_attention.measure("additive", overrides)  # another variant still trains
