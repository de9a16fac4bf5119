"""Generation end to end: make train/export/predict on a toy text, the export in a fresh
process, generation settings, and bad input."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.config import apply_overrides
from common.errors import UserError
from common.export import load_export
from tasks.generation import serve
from tasks.generation.config import MAX_GENERATION_LENGTH, Config, resolve_defaults
from tasks.generation.data import Assets
from tasks.generation.model import build_step_model
from tests.helpers import answers_in_fresh_process, finished_runs, run_cli
from tests.tasks.generation.toy import TINY, toy_text, write_text

SETTINGS = {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "max_length": 30, "seed": 3, "beam_width": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One toy run (character level) shared by the tests below: (run folder, config)."""
    folder = tmp_path_factory.mktemp("generation")
    book = write_text(folder / "book.txt", toy_text(300))
    runs = folder / "runs"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNN_SUITE_RUNS", str(runs))
        assert run_cli("train", "generation", f"dataset={book}", *TINY) == 0
    (run,) = finished_runs(runs, "generation")
    config = resolve_defaults(apply_overrides(Config(), [f"dataset={book}", *TINY]))
    return run, config


def in_memory_generator(run, config):
    assets = Assets(**json.loads((run / "assets.json").read_text()))
    model = keras.models.load_model(run / "model.keras")
    return serve.Generator(build_step_model(config, assets, weights_from=model), config, assets)


def assert_greedy_choices(generator, prompt: str, continuation: str, tolerance=1e-3):
    """Each character of `continuation` has, after the text before it, a logit within
    `tolerance` of the best one in `generator`'s model (the characters it may write)."""
    encoded = generator.prompt_encoder.ragged_ids(tf.constant([prompt + continuation])).flat_values.numpy()
    context = [generator.context] * (1 if prompt else 2)  # an empty prompt starts after two, as `generate` does
    ids = np.array([context + encoded.tolist()], np.int32)
    logits, _ = generator.run(tf.constant(ids), [tf.zeros([1, width]) for width in generator.widths])
    logits = tf.where(generator.never_written, -1e9, logits[0]).numpy()
    first = ids.shape[1] - len(continuation) - 1  # the position whose logits chose the first written character
    for position in range(first, ids.shape[1] - 1):
        written = ids[0, position + 1]
        assert logits[position, written] >= logits[position].max() - tolerance, (prompt, continuation, position)


def test_run_has_exact_scores_baselines_and_samples(trained):
    run, _ = trained
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("perplexity", "bits_per_character", "unigram_perplexity", "bigram_perplexity", "validation_perplexity"):
        assert isinstance(metrics[key], float), key
    history = (run / "history.csv").read_text().splitlines()
    assert "val_perplexity" in history[0] and len(history) == 3
    assert len((run / "samples.txt").read_text().splitlines()) == 4


def test_export_answers_in_a_fresh_process_as_in_memory(trained):
    run, config = trained
    prompts = ["ROMEO:", "", "JULIET: the moon"]
    served, scored = answers_in_fresh_process(
        run / "export",
        [("generate", {"prompt": prompts, **SETTINGS}), ("score", {"text": ["ROMEO: the moon", "", "qqq"]})],
    )
    # Greedy output before and after reloading: every character the export wrote is the
    # in-memory model's top choice. Not the same string: across the two code paths a
    # near-tie may break the other way (float summation order differs between CPUs).
    generator = in_memory_generator(run, config)
    for prompt, continuation in zip(prompts, served["text"]):
        assert_greedy_choices(generator, prompt, continuation)
    assert served["length"] == [30, 30, 30]  # characters have no end token: max_length each
    assert scored["token_count"] == [15, 0, 3] and scored["perplexity"][1] == 1.0
    assert scored["perplexity"][2] > scored["perplexity"][0]  # unseen characters: unknown, never a crash
    expected = in_memory_generator(run, config).score(tf.constant(["ROMEO: the moon"]))["perplexity"].numpy()
    np.testing.assert_allclose(scored["perplexity"][0], expected[0], rtol=1e-5)


def test_settings_are_inputs_of_the_export(trained):
    run, _ = trained
    export = load_export(run / "export")
    sampled = [
        serve.generate_texts(export, ["ROMEO:"], temperature=1.5, seed=seed)[0]["continuation"] for seed in (1, 1, 2)
    ]
    assert sampled[0] == sampled[1] and sampled[0] != sampled[2]  # reproducible with a seed
    short = serve.generate_texts(export, ["ROMEO:"], max_length=5, top_k=3, top_p=0.9)[0]["continuation"]
    assert len(short) <= 5
    beam = serve.generate_texts(export, ["ROMEO:", ""], beam_width=3, max_length=12)
    assert all(len(answer["continuation"]) <= 12 for answer in beam)
    long_prompt = "ROMEO: the moon is bright and my love sleeps. " * 40  # far longer than any training window
    greedy = serve.generate_texts(export, [long_prompt], temperature=0.0, max_length=10)[0]["continuation"]
    assert len(greedy) == 10


def test_bad_settings_are_one_line_errors(trained):
    run, _ = trained
    export = load_export(run / "export")
    for overrides, message in [
        ({"max_length": 0}, r"max_length=0: must be in \[1, 2000\]"),
        ({"max_length": MAX_GENERATION_LENGTH + 1}, r"max_length=2001: must be in \[1, 2000\]"),
        ({"top_p": 0.0}, r"top_p=0.0: must be in \(0.0, 1.0\]"),
        ({"top_p": 1.5}, r"top_p=1.5: must be in \(0.0, 1.0\]"),
        ({"beam_width": -1}, r"beam_width=-1: must be in \[0, 64\]"),
        ({"top_k": -3}, r"top_k=-3: must be in \[0, "),
        ({"temperature": float("nan")}, "input 'temperature': NaN and infinities are not allowed"),
        ({"temperature": -1.0}, r"temperature=-1.0: must be in \[0.0, 100.0\]"),
    ]:
        with pytest.raises(UserError, match=message):
            serve.generate_texts(export, ["ROMEO:"], **overrides)
    # A direct caller of the export gets the same check from the graph.
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length must be in"):
        export.signatures["generate"](prompt=tf.constant(["a"]), **{**serve_inputs(), "max_length": tf.constant(0)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="beam_width must be in"):
        export.signatures["generate"](prompt=tf.constant(["a"]), **{**serve_inputs(), "beam_width": tf.constant(-1)})
    # beam_width 0 and 1 both sample.
    assert serve.generate_texts(export, ["ROMEO:"], beam_width=0) == serve.generate_texts(export, ["ROMEO:"])


def serve_inputs():
    dtypes = {spec.name: spec.dtype for spec in serve.GENERATE_SPEC}
    return {name: tf.constant(value, dtypes[name]) for name, value in SETTINGS.items()}


def test_make_predict_and_make_export(trained, tmp_path, capsys, monkeypatch):
    run, _ = trained
    monkeypatch.setenv("RNN_SUITE_RUNS", str(run.parent.parent))
    capsys.readouterr()
    assert run_cli("predict", "generation", "--text", "ROMEO:") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["prompt"] == "ROMEO:" and len(answer["continuation"]) == serve.PREDICT_SETTINGS["max_length"]
    assert run_cli("export", "generation", "--to", tmp_path / "again") == 0
    again = serve.generate_texts(load_export(tmp_path / "again"), ["ROMEO:"], temperature=0.0)
    assert again == serve.generate_texts(load_export(run / "export"), ["ROMEO:"], temperature=0.0)


def test_bad_inputs_get_one_line_errors_and_leave_no_run(tmp_path, isolated_runs, capsys):
    short = write_text(tmp_path / "short.txt", "ROMEO: hi.\n" * 5)
    empty = write_text(tmp_path / "empty.txt", "  \n \n")
    book = write_text(tmp_path / "book.txt", toy_text(50))
    for options, expected in [
        ([f"dataset={empty}"], "empty.txt: the text is empty or only whitespace"),
        ([f"dataset={short}", "bptt=100"], "one batch needs 101"),
        ([f"dataset={book}", "bidirectional=true"], "option 'bidirectional' is refused for this task"),
        ([f"dataset={book}", "tie_embeddings=true"], "tie_embeddings needs embedding_dim (8) equal to units (16)"),
        (["dataset=shakespear"], "unknown dataset 'shakespear' for generation"),
        ([f"dataset={tmp_path / 'missing.txt'}"], "data file not found"),
    ]:
        assert run_cli("train", "generation", *TINY, *options) == 2, options
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and error[0].startswith("error: ") and expected in error[0], (options, error)
    assert not finished_runs(isolated_runs, "generation")


@pytest.mark.slow
def test_learns_shakespeare_below_the_bigram_baseline(isolated_runs):
    assert run_cli("train", "generation", "batching=random", "epochs=3", "steps_per_epoch=150", "verbose=2") == 0
    (run,) = finished_runs(isolated_runs, "generation")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["bits_per_character"] < metrics["bigram_bits_per_token"] < metrics["unigram_bits_per_token"]
    assert metrics["data"]["test_works"] == "hamlet, sonnets"
