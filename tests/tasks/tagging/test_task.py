"""Tagging end to end on real tweets: the run, the export in a fresh process, predict."""

import dataclasses
import json
import subprocess
import sys

import pytest

from common.errors import UserError
from common.export import load_export
from common.task import load_assets
from common.trainer import train
from tasks.tagging import data as tagging_data
from tasks.tagging import metrics as tagging_metrics
from tasks.tagging import serve as tagging_serve
from tasks.tagging.config import Config
from tasks.tagging.data import Assets
from tasks.tagging.task import TASK
from tests.helpers import ROOT, call_in_fresh_process
from tests.tasks.tagging.toy import TOY, conll, toy_config, write


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One real toy training run on 120 WNUT-2016 tweets (CRF + character features)."""
    folder = tmp_path_factory.mktemp("tagging")
    wnut = tagging_data.read_wnut16()
    sentences = list(zip(wnut.tokens[:120], wnut.tags[:120]))
    write(folder / "train.conll", conll([list(zip(tokens, tags)) for tokens, tags in sentences]))
    config = toy_config(dataset=str(folder / "train.conll"), epochs=2, max_length=12)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNN_SUITE_RUNS", str(folder / "runs"))
        run_path = train(TASK, config)
    return config, run_path


def test_training_writes_a_complete_run(trained_run):
    config, run_path = trained_run
    for name in ("config.json", "assets.json", "data.json", "splits.json", "metrics.json"):
        assert (run_path / name).is_file(), name
    assert (run_path / "history.csv").is_file() and (run_path / "learning_curves.png").is_file()
    assert "val_tag_f1" in (run_path / "history.csv").read_text().splitlines()[0]  # the epoch picker
    assert (run_path / "model.keras").is_file() and (run_path / "export" / "saved_model.pb").is_file()
    metrics = json.loads((run_path / "metrics.json").read_text())
    for key in ("token_accuracy", "precision", "recall", "f1", "per_type", "most_confused", "baseline"):
        assert key in metrics, key
    assert 0.0 <= metrics["f1"] <= 1.0 and "f1" in metrics["baseline"]
    assert metrics["data"]["cut_long_sentences"] > 0
    assert not (run_path.parent / ".incomplete" / run_path.name).exists()


def model_tags(config, run_path, sentences: list[str]) -> list[list[str]]:
    """The tags the run's model.keras gives each sentence, in this process."""
    import keras

    model = keras.models.load_model(run_path / "model.keras", compile=False)
    assets = load_assets(Assets, run_path / "assets.json")
    encoder = tagging_data.make_encoder(config, assets)
    return tagging_metrics.predict_tags(model, encoder, config, assets.tag_names, [s.split() for s in sentences])


def test_export_in_a_fresh_process_matches_the_model(trained_run):
    config, run_path = trained_run
    assets = load_assets(Assets, run_path / "assets.json")
    long_sentence = " ".join(["RT @user love the new york giants"] * 40)  # 280 tokens, far over max_length
    sentences = ["Obama visited Paris today", "", long_sentence, "lol"]
    served = call_in_fresh_process(run_path / "export", {"text": sentences})
    assert served["length"] == [4, 0, 280, 1]
    expected = model_tags(config, run_path, sentences)
    for row, tags in enumerate(expected):
        assert served["tags"][row][: len(tags)] == tags
        assert all(tag == "" for tag in served["tags"][row][len(tags) :])
        assert served["tokens"][row][: len(tags)] == sentences[row].split()
    assert all(tag in assets.tag_names[1:] for tag in expected[2])


def test_predict_tags_empty_sentences_but_refuses_an_empty_request(trained_run):
    _, run_path = trained_run
    answers = tagging_serve.predict(load_export(run_path / "export"), ["I love London", ""])
    assert answers[0]["tokens"] == ["I", "love", "London"] and len(answers[0]["tags"]) == 3
    assert answers[0]["tagged"].startswith("I/") and answers[1]["tags"] == []
    with pytest.raises(UserError, match="nothing to tag"):
        tagging_serve.predict(load_export(run_path / "export"), [])


def test_make_export_in_a_fresh_process_finds_the_custom_layers(trained_run, tmp_path):
    # A fresh `main.py export` has imported none of the task's modules: the character CNN
    # and the CRF must still be found when model.keras is loaded, and the rebuilt export
    # tags as the training run's model does.
    config, run_path = trained_run
    command = [sys.executable, "main.py", "export", "tagging", "--run", str(run_path), "--to", str(tmp_path / "1")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "1" / "saved_model.pb").is_file() and (tmp_path / "1" / "task.json").is_file()
    sentences = ["Obama visited Paris today"]
    assert call_in_fresh_process(tmp_path / "1", {"text": sentences})["tags"] == model_tags(config, run_path, sentences)


def test_a_failed_run_leaves_nothing_behind(tmp_path, monkeypatch):
    train_file = write(tmp_path / "train.conll", conll([list(zip(*TOY[0]))] * 6))
    config = toy_config(dataset=str(train_file), embeddings=str(tmp_path / "missing.vec"))
    with pytest.raises(UserError, match="embeddings file not found"):
        train(TASK, config)
    runs = tmp_path / "runs" / "tagging"
    assert not any(path for path in runs.rglob("*") if path.is_file())


@pytest.mark.slow
def test_wsj_pos_bilstm_beats_the_per_word_baseline_by_far():
    # The defaults of `make train TASK=tagging DATA=wsj_pos`: BiLSTM + characters + CRF.
    config = dataclasses.replace(Config(), dataset="wsj_pos", verbose="0")
    run_path = train(TASK, config)
    metrics = json.loads((run_path / "metrics.json").read_text())
    assert metrics["token_accuracy"] > 0.93
    assert metrics["token_accuracy"] > metrics["baseline"]["token_accuracy"] + 0.05
