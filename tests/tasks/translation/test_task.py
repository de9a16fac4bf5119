"""Translation end to end: make train / predict on toy pairs, the export answering in a
fresh process as the model does, its three signatures, a run with pretrained source
vectors reloaded and exported again, bad input at serving time and on the command line."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from common.config import apply_overrides
from common.embedding import PretrainedEmbedding
from tasks.translation.config import SERVE_MAX_OUTPUT_TOKENS, Config
from tasks.translation.data import Assets
from tasks.translation.serve import Translator
from tasks.translation.task import TASK
from tests.helpers import answers_in_fresh_process, call_in_fresh_process, finished_runs, run_cli
from tests.tasks.translation.toy import ENGLISH, TINY, number_pairs, write_tsv

SERVED = ["one two three", "", "one zebra two", "eight seven " * 150, "  "]


def test_train_learns_the_toy_task_and_the_export_translates(tmp_path, isolated_runs, capsys):
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(400, seed=0), extra_column=True)
    options = [f"dataset={data}", "epochs=12", *TINY]
    assert run_cli("train", "translation", *options) == 0
    assert "test BLEU" in (printed := capsys.readouterr().out) and "nrefs:1|case:lc|" in printed  # the signature
    (run,) = finished_runs(isolated_runs, "translation")
    for name in ("metrics.json", "translations.md", "attention_1.png", "model.keras", "export/saved_model.pb"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    # A copy task: near-perfect, far above copying the English words.
    assert metrics["bleu"] > 90 and metrics["chrf"] > 90 and metrics["copy_source_bleu"] < 5, metrics
    # The validation verses are scored too (options are chosen on them, never on test).
    assert metrics["validation_bleu"] > 80 and metrics["validation_chrf"] > 80, metrics
    assert "validation BLEU" in printed
    assert metrics["bleu_signature"].startswith("nrefs:1|case:lc|eff:no|tok:13a")
    assert len(metrics["examples"]) == 10 and sum(b["sentences"] for b in metrics["bleu_by_length"].values()) == 40
    # The attention's health, every epoch and for the weights kept: a copy task attends word by word.
    health = ("attention_first", "attention_last", "attention_entropy")
    assert set(health) <= set((run / "history.csv").read_text().splitlines()[0].split(","))
    assert metrics["attention_first"] < 0.5 and metrics["attention_last"] < 0.5, metrics
    description = json.loads((run / "export" / "task.json").read_text())
    assert set(description["signatures"]) == {"serving_default", "translate", "attention"}

    # One fresh process answers every signature: loading the export is the slow part.
    answers = answers_in_fresh_process(
        run / "export",
        [
            ("serving_default", {"text": SERVED}),
            ("translate", {"text": ["one two three four"], "beam_width": 1, "max_length": 2}),
            ("translate", {"text": ["one"], "beam_width": 0, "max_length": 0}),
            ("attention", {"text": ["one two three", "four"]}),
        ],
    )
    served, short, refused, attention = answers
    served = served["translation"]
    assert served[0] == "uno dos tres"
    assert served[1] == "" and served[4] == ""  # empty input: empty output, not a crash
    assert served[2].startswith("uno") and "[UNK]" not in served[2]  # an unknown word
    assert 0 < len(served[3].split()) <= SERVE_MAX_OUTPUT_TOKENS  # longer than any training sentence

    # The export answers as the model in memory does, on the inputs whose answer is stable.
    # Not on the 300-word row: a toy model decodes it as a long chain of near-tied argmaxes,
    # and which of two near-equal words wins depends on float summation order, which
    # differs between the two code paths on some CPUs (oneDNN without AVX-512).
    config = apply_overrides(Config(), options)
    assets = Assets(**json.loads((run / "assets.json").read_text()))
    translator = Translator(keras.models.load_model(run / "model.keras"), config, assets)
    in_memory = translator.translate(tf.constant(SERVED), config.beam_width)[3].numpy()
    stable = [0, 1, 2, 4]
    assert [in_memory[row].decode() for row in stable] == [served[row] for row in stable]

    assert short == {"translation": ["uno dos"], "length": [2]}
    assert "beam_width must be in [1, 64], got" in refused["error"]  # the export's own limit

    # "four" alone is shorter than any training sentence: its first word is what was learnt.
    assert attention["translation"][0] == served[0] and attention["translation"][1].startswith("cuatro")
    assert attention["source_tokens"] == [["one", "two", "three"], ["four", "", ""]]
    assert attention["target_tokens"][0][:3] == ["uno", "dos", "tres"]
    assert attention["source_length"] == [3, 1] and attention["length"][0] == 3
    weights = np.array(attention["weights"])
    np.testing.assert_allclose(weights[0, :3].sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(weights[1, :, 1:] == 0) and weights[1, 0, 0] == pytest.approx(1.0)

    capsys.readouterr()
    assert run_cli("predict", "translation", "--text", "two three") == 0
    assert json.loads(capsys.readouterr().out)["translation"] == "dos tres"


@pytest.mark.slow  # a whole toy run (about a minute); the layer's reload is tested in test_embedding.py
def test_pretrained_source_vectors_train_reload_and_export(tmp_path, isolated_runs, capsys):
    """English number words have vectors (so does a Spanish one, which the target never
    reads): the run saves what matched, and `make export` rebuilds the SavedModel from
    model.keras, translating the test examples as the trained model did."""
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(120, seed=0))
    rng = np.random.default_rng(0)
    rows = {word: rng.normal(size=5).round(3) for word in [*ENGLISH[:6], "uno"]}
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{word} {' '.join(map(str, row))}\n" for word, row in rows.items()))
    options = [f"dataset={data}", "epochs=2", "evaluate_limit=8", *TINY, f"embeddings={vectors}", "frozen_epochs=1"]
    assert run_cli("train", "translation", *options) == 0
    assert "embeddings: 6 of 8 vocabulary words found" in capsys.readouterr().out
    (run,) = finished_runs(isolated_runs, "translation")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["pretrained_embeddings"] == {"source": str(vectors), "found": 6, "of": 8, "share": 0.75}

    model = TASK.load_model(run / "model.keras")
    source, target = model.get_layer("source_embedding"), model.get_layer("target_embedding")
    assert isinstance(source, PretrainedEmbedding) and source.embeddings.shape[1] == 5
    assert not isinstance(target, PretrainedEmbedding) and target.embeddings.shape[1] == 16  # embedding_dim
    assets = Assets(**json.loads((run / "assets.json").read_text()))
    row = assets.source_vocabulary.index("one")  # held for epoch 1, then fine-tuned: moved, not far
    assert 0 < np.abs(source.embeddings.numpy()[row] - rows["one"]).max() < 1

    assert run_cli("export", "translation", "--run", run, "--to", tmp_path / "again") == 0
    examples = metrics["examples"]  # the trained model's own test translations, before saving
    served = call_in_fresh_process(tmp_path / "again", {"text": [example["source"] for example in examples]})
    assert served["translation"] == [example["output"] for example in examples]


def test_label_smoothing_and_warm_up_train_save_and_reload(tmp_path, isolated_runs):
    """The run's model.keras keeps its smoothed loss and warm-up schedule through a
    compiled reload (as `make bench-translation` loads it)."""
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(120, seed=0))
    options = [f"dataset={data}", "epochs=2", "evaluate_limit=8", *TINY, "label_smoothing=0.1", "warmup_steps=10"]
    assert run_cli("train", "translation", *options) == 0
    (run,) = finished_runs(isolated_runs, "translation")
    losses = pd.read_csv(run / "history.csv")["loss"]
    assert losses.iloc[-1] < losses.iloc[0]
    model = keras.models.load_model(run / "model.keras")
    assert model.loss.smoothing == 0.1
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)  # warmed up: the configured rate


def test_input_feeding_learns_reloads_and_exports(tmp_path, isolated_runs):
    """The looping decoder (a custom layer) trains, saves in model.keras, is rebuilt by
    `make export`, and the SavedModel translates in a fresh process as the run did."""
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(400, seed=0))
    options = [f"dataset={data}", "epochs=12", "evaluate_limit=20", *TINY, "input_feeding=true"]
    assert run_cli("train", "translation", *options) == 0
    (run,) = finished_runs(isolated_runs, "translation")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["bleu"] > 80 and metrics["cudnn"] == "no", metrics
    assert run_cli("export", "translation", "--run", run, "--to", tmp_path / "again") == 0
    examples = metrics["examples"]
    served = call_in_fresh_process(tmp_path / "again", {"text": [example["source"] for example in examples]})
    assert served["translation"] == [example["output"] for example in examples]


def bad_input_cases(tmp_path):
    missing = tmp_path / "missing.tsv"
    no_pairs = tmp_path / "no_pairs.tsv"
    no_pairs.write_text("just words\nmore words\n", encoding="utf-8")
    one_bad = tmp_path / "one_bad.tsv"
    one_bad.write_text("one\tuno\ntwo\t\n" + "three\ttres\n" * 20, encoding="utf-8")
    good = write_tsv(tmp_path / "good.tsv", number_pairs(30))
    return [
        ([f"dataset={missing}"], "data file not found"),
        ([f"dataset={no_pairs}"], "no source<TAB>target pairs"),
        ([f"dataset={one_bad}", "skip_bad_lines=false"], f"{one_bad}, line 2: an empty side"),
        ([f"dataset={good}", "beam_width=0"], "beam_width=0: must be at least 1"),
        ([f"dataset={good}", "attention=dot"], "attention='dot': choose one of none, additive, multiplicative, scaled"),
        ([f"dataset={good}", "cell=none"], "cell=none: an encoder-decoder needs a recurrent cell"),
        ([f"dataset={good}", "max_length=1"], "no train pairs of at most 1 words"),
        (["dataset=europarl"], "unknown dataset 'europarl'"),
        ([f"dataset={good}", "label_smoothing=1"], "label_smoothing must be in [0, 1)"),
        ([f"dataset={good}", "attention=none", "input_feeding=true"], "input_feeding=true feeds the attentional"),
        ([f"dataset={good}", "tokenizer=bpe"], "'tokenizer' is refused for this task: translation is word level"),
    ]


def test_bad_inputs_get_one_line_errors_and_leave_no_run(tmp_path, isolated_runs, capsys):
    for options, expected in bad_input_cases(tmp_path):
        assert run_cli("train", "translation", "epochs=1", *TINY, *options) == 2, options
        error = capsys.readouterr().err.strip().splitlines()
        assert error[-1].startswith("error: ") and expected in error[-1], (options, error)
        assert "Traceback" not in "\n".join(error)
    assert not finished_runs(isolated_runs, "translation")


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["additive", "multiplicative"])
def test_learns_to_translate_and_reverse_with_attention(tmp_path, isolated_runs, attention):
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(1500, seed=1, reverse=True, lengths=(3, 9)))
    options = [f"dataset={data}", "epochs=25", *TINY, f"attention={attention}", "units=48", "decoder_units=64"]
    assert run_cli("train", "translation", *options) == 0
    (run,) = finished_runs(isolated_runs, "translation")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["bleu"] > 90 and metrics["greedy_bleu"] > 90, metrics


@pytest.mark.slow  # two toy runs (about a minute)
def test_the_same_command_twice_gives_the_same_scores(tmp_path, monkeypatch):
    """Op determinism and a seeded data order: the second run repeats the first's figures."""
    data = write_tsv(tmp_path / "pairs.tsv", number_pairs(400, seed=3))
    options = [f"dataset={data}", "epochs=6", "evaluate_limit=20", *TINY]
    found = []
    for attempt in ("first", "second"):
        runs = tmp_path / attempt
        monkeypatch.setenv("RNN_SUITE_RUNS", str(runs))
        assert run_cli("train", "translation", *options) == 0
        (run,) = finished_runs(runs, "translation")
        metrics = json.loads((run / "metrics.json").read_text())
        found.append({key: value for key, value in metrics.items() if "seconds" not in key and "per_second" not in key})
    assert found[0] == found[1]
    assert found[0]["bleu"] > 0  # something was learnt, so the comparison says something
