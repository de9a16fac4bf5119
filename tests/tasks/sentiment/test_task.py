"""Sentiment end to end: make train/export/predict, cross-validation, bad input, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import trainer
from common.config import apply_overrides
from common.export import load_export
from tasks.sentiment import data as sentiment_data
from tasks.sentiment import serve as sentiment_serve
from tasks.sentiment.config import Config
from tasks.sentiment.task import TASK
from tests.helpers import ROOT, call_in_fresh_process, finished_runs, run_cli
from tests.tasks.sentiment.toy import TINY, review_rows, write_csv


def test_train_writes_a_complete_run_and_a_servable_export(tmp_path, isolated_runs, capsys):
    data = write_csv(tmp_path / "reviews.csv", review_rows(160))
    options = [f"dataset={data}", "max_length=20", *TINY]
    assert run_cli("train", "sentiment", *options) == 0
    (run,) = finished_runs(isolated_runs, "sentiment")
    for name in (
        "config.json",
        "assets.json",
        "data.json",
        "export/task.json",
        "splits.json",
        "history.csv",
        "metrics.json",
        "learning_curves.png",
        "model.keras",
        "export/saved_model.pb",
    ):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "loss", "parameters", "training_seconds", "examples_per_second"):
        assert key in metrics
    assert json.loads((run / "config.json").read_text())["units"] == 8
    splits = json.loads((run / "splits.json").read_text())
    assert sorted(splits["train"] + splits["validation"] + splits["test"]) == list(range(160))

    long_text = "superb " * 20
    texts = ["the film was great great superb", "dull and boring", "", long_text, long_text + "awful " * 1600]
    served = call_in_fresh_process(run / "export", {"text": texts})
    # Text beyond max_length tokens is ignored, exactly as in training (within the export's
    # declared cap of 10,000 characters per text).
    np.testing.assert_allclose(served["probabilities"][3], served["probabilities"][4], atol=1e-7)
    config = apply_overrides(Config(), options)
    model = keras.models.load_model(run / "model.keras")
    encoder = sentiment_data.make_encoder(config, json.loads((run / "assets.json").read_text())["vocabulary"])
    in_memory = model(tf.cast(encoder(tf.constant(texts)), tf.int32)).numpy()
    np.testing.assert_allclose(served["probabilities"], in_memory, atol=1e-5)
    assert set(served["label"]) <= {"neg", "pos"}
    np.testing.assert_allclose(np.sum(served["probabilities"], axis=1), 1.0, atol=1e-5)

    # `make export` rebuilds the same SavedModel from the finished run.
    assert run_cli("export", "sentiment", "--to", tmp_path / "served" / "1") == 0
    again = call_in_fresh_process(tmp_path / "served" / "1", {"text": texts})
    np.testing.assert_allclose(again["probabilities"], served["probabilities"], atol=1e-6)
    capsys.readouterr()
    assert run_cli("predict", "sentiment", "--text", "lovely film") == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("neg", "pos")


def test_string_labels_three_classes_tsv_and_jsonl(tmp_path, isolated_runs):
    rows = review_rows(150, classes=("pos", "neg", "mixed"))
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("review\tstars\n" + "".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows), encoding="utf-8")
    assert run_cli("train", "sentiment", f"dataset={tsv}", "text_column=review", "label_column=stars", *TINY) == 0
    config = apply_overrides(Config(), [f"dataset={jsonl}"])
    data = sentiment_data.load_data(config)
    assert data.assets.class_names == ["mixed", "neg", "pos"]
    assert sum(len(part) for part in data.texts.values()) == 150
    (run,) = finished_runs(isolated_runs, "sentiment")
    assert len(sentiment_serve.predict(load_export(run / "export"), ["okay"])[0]["probabilities"]) == 3


def test_cross_validation_reports_every_fold(tmp_path, isolated_runs):
    data = write_csv(tmp_path / "reviews.csv", review_rows(90))
    assert run_cli("train", "sentiment", f"dataset={data}", "folds=3", "epochs=1", *TINY[1:]) == 0
    (run,) = finished_runs(isolated_runs, "sentiment")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"] == 3 and len(metrics["accuracy"]["values"]) == 3
    assert all((run / f"fold-{fold}" / "metrics.json").exists() for fold in (1, 2, 3))


def test_select_by_picks_the_validation_measure_that_keeps_the_best_epoch(tmp_path, isolated_runs, monkeypatch):
    watched = []
    real_fit = trainer.fit

    def watching_fit(model, train, validation, config, run_path, monitor, mode, *rest):
        watched.append((monitor, mode))
        return real_fit(model, train, validation, config, run_path, monitor, mode, *rest)

    monkeypatch.setattr(trainer, "fit", watching_fit)
    data = write_csv(tmp_path / "reviews.csv", review_rows(60))
    assert run_cli("train", "sentiment", f"dataset={data}", "select_by=accuracy", *TINY) == 0
    assert watched == [("val_accuracy", "max")]
    assert TASK.monitoring(Config()) == ("val_loss", "min")


def bad_input_cases(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n")
    no_label = write_csv(tmp_path / "nolabel.csv", review_rows(20), header=("text", "sentiment"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ngood,pos\ncaf\xe9 bad,neg\n".encode("latin-1"))
    single = write_csv(tmp_path / "single.csv", [(f"good film {i}", "pos") for i in range(20)])
    train = write_csv(tmp_path / "train.csv", review_rows(40))
    unseen = write_csv(tmp_path / "test.csv", [("good", "pos"), ("meh", "neutral")])
    tiny_class = write_csv(tmp_path / "tiny.csv", review_rows(40) + [("odd one", "odd")])
    return [
        ([f"dataset={empty}"], "empty.csv: the file is empty"),
        ([f"dataset={header_only}"], "header.csv: no data rows"),
        ([f"dataset={no_label}"], "no column 'label' (columns: text, sentiment); set label_column="),
        ([f"dataset={latin}"], "latin.csv, line 3: bytes that are not UTF-8"),
        ([f"dataset={single}"], "every row has label 'pos'"),
        ([f"dataset={train}", f"test_file={unseen}"], "test.csv, line 3: label 'neutral' never seen in training"),
        ([f"dataset={tiny_class}"], "class 'odd' has 1 example(s)"),
        ([f"dataset={tmp_path / 'missing.csv'}"], "data file not found"),
        (["dataset=imbd"], "unknown dataset 'imbd' for sentiment"),
        ([f"dataset={train}", f"embeddings={tmp_path / 'glove.txt'}"], "embeddings file not found"),
        (["dataset=mr", "cell=lstmm"], "unknown cell 'lstmm'"),
        (["unitz=3"], "unknown option 'unitz'"),
        (["select_by=f1"], "select_by='f1': choose one of loss, accuracy"),
    ]


def test_bad_inputs_get_one_line_errors_and_leave_no_run(tmp_path, isolated_runs, capsys):
    for options, expected in bad_input_cases(tmp_path):
        assert run_cli("train", "sentiment", *options, *TINY) == 2, options
        error = capsys.readouterr().err.strip().splitlines()
        assert error[-1].startswith("error: ") and expected in error[-1], (options, error)
        assert "Traceback" not in "\n".join(error)
    assert not finished_runs(isolated_runs, "sentiment")
    assert not list(isolated_runs.glob("sentiment/.incomplete/*"))


@pytest.mark.slow  # make test kills runs at an epoch's end in tests/common/test_faults.py
def test_killed_run_resumes_from_the_last_finished_epoch(tmp_path, isolated_runs):
    data = write_csv(tmp_path / "reviews.csv", review_rows(4000))
    command = [
        sys.executable,
        str(ROOT / "main.py"),
        "train",
        "sentiment",
        f"dataset={data}",
        "epochs=6",
        "patience=100",
        "units=8",
        "embedding_dim=8",
        "verbose=0",
    ]
    environment = dict(os.environ, RNN_SUITE_RUNS=str(isolated_runs))
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    history = None
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        found = list(isolated_runs.glob("sentiment/.incomplete/*/history.csv"))
        if found and len(found[0].read_text().splitlines()) >= 3:  # header + two finished epochs
            history = found[0]
            break
        time.sleep(0.05)
    assert history is not None and process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(history.read_text().splitlines()) - 1

    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming unfinished run" in result.stdout + result.stderr
    (run,) = finished_runs(isolated_runs, "sentiment")
    epochs = [int(line.split(",")[0]) for line in (run / "history.csv").read_text().splitlines()[1:]]
    # Nothing restarted from zero: the epochs run once each (a rerun of the epoch that
    # was in flight at the kill is allowed), ending at the last epoch.
    assert epochs[:done_before] == list(range(done_before)) and epochs[-1] == 5
    assert epochs.count(0) == 1


@pytest.mark.slow
def test_learns_mr_well_above_chance(isolated_runs):
    assert run_cli("train", "sentiment", "epochs=4", "verbose=2") == 0
    (run,) = finished_runs(isolated_runs, "sentiment")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.70 and metrics["data"]["label_valence_agreement"] > 0.9
