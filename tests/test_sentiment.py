"""The sentiment task end to end on toy files, its bad inputs, and (slow) real MR."""

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import main
from common import cells, sources
from common.config import apply_overrides
from tasks import sentiment

ROOT = Path(__file__).resolve().parent.parent
TINY = ["epochs=2", "units=8", "embedding_dim=8", "batch_size=16", "verbose=0", "patience=5"]
GOOD = ["good", "great", "fine", "lovely", "superb"]
BAD = ["bad", "awful", "dull", "boring", "poor"]


def review_rows(count, seed=0, classes=("pos", "neg")):
    """Toy reviews whose class shows in their words, so a tiny model can learn them."""
    rng = np.random.default_rng(seed)
    words = {"pos": GOOD, "neg": BAD, "mixed": ["okay", "average", "so-so", "fair", "middling"]}
    rows = []
    for index in range(count):
        label = classes[index % len(classes)]
        picked = rng.choice(words[label], size=rng.integers(2, 12))
        rows.append((" ".join(["the", "film", "was", *picked]), label))
    return rows


def write_csv(path, rows, header=("text", "label")):
    lines = [",".join(header)] + [f'"{text_value}",{label}' for text_value, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(*arguments):
    return main.main([str(argument) for argument in arguments])


def finished_runs(runs_root):
    folder = runs_root / "sentiment"
    return [path for path in folder.iterdir() if not path.name.startswith(".")] if folder.exists() else []


def serve_in_fresh_process(export_path, texts):
    """Load the export in a Python that imports only tensorflow (no project code)."""
    code = (
        "import json, sys, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = serve(text=tf.constant(json.loads(sys.argv[2])))\n"
        "print(json.dumps({'probabilities': out['probabilities'].numpy().tolist(),"
        " 'label': [x.decode() for x in out['label'].numpy()]}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(export_path), json.dumps(texts)],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_train_writes_a_complete_run_and_a_servable_export(tmp_path, isolated_runs):
    data = write_csv(tmp_path / "reviews.csv", review_rows(160))
    assert run_cli("train", "sentiment", f"dataset={data}", *TINY) == 0
    (run,) = finished_runs(isolated_runs)
    for name in (
        "config.json",
        "vocabulary.json",
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

    texts = ["the film was great great superb", "dull and boring", "", "good " * 5000]
    served = serve_in_fresh_process(run / "export", texts)
    config = apply_overrides(sentiment.Config(), [f"dataset={data}", *TINY])
    model = keras.models.load_model(run / "model.keras")
    encoder = sentiment.make_encoder(config, json.loads((run / "vocabulary.json").read_text()))
    in_memory = model(tf.cast(encoder(tf.constant(texts)), tf.int32)).numpy()
    np.testing.assert_allclose(served["probabilities"], in_memory, atol=1e-5)
    assert set(served["label"]) <= {"neg", "pos"}
    np.testing.assert_allclose(np.sum(served["probabilities"], axis=1), 1.0, atol=1e-5)

    # `make export` rebuilds the same SavedModel from the finished run.
    assert run_cli("export", "sentiment", "--to", tmp_path / "served" / "1") == 0
    again = serve_in_fresh_process(tmp_path / "served" / "1", texts)
    np.testing.assert_allclose(again["probabilities"], served["probabilities"], atol=1e-6)


def test_export_answers_empty_and_very_long_text(tmp_path, isolated_runs, capsys):
    data = write_csv(tmp_path / "reviews.csv", review_rows(120))
    run_cli("train", "sentiment", f"dataset={data}", "max_length=20", *TINY)
    (run,) = finished_runs(isolated_runs)
    long_text = "superb " * 20
    answers = sentiment.predict(run / "export", ["", long_text, long_text + "awful " * 10000])
    assert all(len(answer["probabilities"]) == 2 for answer in answers)
    # Text beyond max_length tokens is ignored, exactly as in training.
    assert answers[1]["probabilities"] == answers[2]["probabilities"]
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
    config = apply_overrides(sentiment.Config(), [f"dataset={jsonl}"])
    data = sentiment.load_data(config)
    assert data.class_names == ["mixed", "neg", "pos"]
    assert sum(len(part) for part in data.texts.values()) == 150
    (run,) = finished_runs(isolated_runs)
    assert len(sentiment.predict(run / "export", ["okay"])[0]["probabilities"]) == 3


def test_separate_test_file_is_used_as_the_test_set(tmp_path):
    train = write_csv(tmp_path / "train.csv", review_rows(100))
    test = write_csv(tmp_path / "test.csv", review_rows(30, seed=3))
    data = sentiment.load_data(apply_overrides(sentiment.Config(), [f"dataset={train}", f"test_file={test}"]))
    assert len(data.texts["test"]) == 30 and len(data.texts["train"]) + len(data.texts["validation"]) == 100


def test_cross_validation_reports_every_fold(tmp_path, isolated_runs):
    data = write_csv(tmp_path / "reviews.csv", review_rows(90))
    assert run_cli("train", "sentiment", f"dataset={data}", "folds=3", "epochs=1", *TINY[1:]) == 0
    (run,) = finished_runs(isolated_runs)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"] == 3 and len(metrics["accuracy"]["values"]) == 3
    assert all((run / f"fold-{fold}" / "metrics.json").exists() for fold in (1, 2, 3))


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "none"])
def test_every_cell_type_builds_and_trains_one_step(tmp_path, cell):
    data_file = write_csv(tmp_path / "reviews.csv", review_rows(64))
    config = apply_overrides(sentiment.Config(), [f"dataset={data_file}", f"cell={cell}", "num_layers=2", *TINY])
    data = sentiment.load_data(config)
    model = sentiment.build_model(config, data)
    before = [weight.copy() for weight in model.get_weights()]
    model.fit(sentiment.make_datasets(config, data)["train"].take(1), verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_default_models_stay_cudnn_eligible(tmp_path, cell):
    data_file = write_csv(tmp_path / "reviews.csv", review_rows(30))
    config = apply_overrides(sentiment.Config(), [f"dataset={data_file}", f"cell={cell}", "num_layers=2"])
    model = sentiment.build_model(config, sentiment.load_data(config))
    layers = cells.recurrent_layers(model)
    assert len(layers) == 4 and all(cells.cudnn_blockers(layer) == [] for layer in layers)


def test_prepadded_pipeline_pads_in_front_without_a_mask(tmp_path):
    data_file = write_csv(tmp_path / "reviews.csv", review_rows(64))
    config = apply_overrides(sentiment.Config(), [f"dataset={data_file}", "pipeline=prepadded", "max_length=12"])
    data = sentiment.load_data(config)
    token_ids, _ = next(iter(sentiment.make_datasets(config, data)["train"]))
    assert token_ids.shape[1] == 12 and (token_ids.numpy()[:, -1] != 0).all()
    assert sentiment.build_model(config, data).layers[1].compute_mask(token_ids) is None


def test_tfds_sources_offline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=10):
        for name in ("imdb_reviews", "glue/sst2"):
            data = sentiment.load_data(apply_overrides(sentiment.Config(), [f"dataset={name}"]))
            assert len(data.texts["test"]) == 10 and len(data.class_names) == 2


def test_mr_labels_from_id_ranges_checked_against_valence(tmp_path, monkeypatch):
    """The MR reader on a small package built like the vaderSentiment sdist."""
    monkeypatch.setenv(sources.CACHE_VARIABLE, str(tmp_path / "cache"))
    lines = "1\t2.5\tA fine film.\r\n5331\t-0.5\tUneven.\r\n5332\t-2.0\tAwful.\r\n10605\t1.0\tNot bad at all."
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as bundle:
        add_file(bundle, "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt", lines.encode())
    outer_path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    with tarfile.open(outer_path, "w:gz") as bundle:
        add_file(bundle, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", inner.getvalue())
    digest = hashlib.sha256(outer_path.read_bytes()).hexdigest()
    monkeypatch.setattr(
        sentiment, "MR_PACKAGE", sentiment.MR_PACKAGE.__class__("MR", "vaderSentiment==3.3.2", outer_path.name, digest)
    )
    corpus = sentiment.read_mr(download=lambda package, folder: shutil.copy(outer_path, folder))
    assert corpus.texts == ["A fine film.", "Uneven.", "Awful.", "Not bad at all."]
    assert corpus.labels.tolist() == [1, 1, 0, 0]
    assert corpus.summary["label_valence_agreement"] == 0.5


def add_file(bundle, name, content):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    bundle.addfile(info, io.BytesIO(content))


# ---------------------------------------------------------------- bad input


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
    ]


def test_bad_inputs_get_one_line_errors_and_leave_no_run(tmp_path, isolated_runs, capsys):
    for options, expected in bad_input_cases(tmp_path):
        assert run_cli("train", "sentiment", *options, *TINY) == 2, options
        error = capsys.readouterr().err.strip().splitlines()
        assert error[-1].startswith("error: ") and expected in error[-1], (options, error)
        assert "Traceback" not in "\n".join(error)
    assert not finished_runs(isolated_runs)
    assert not list(isolated_runs.glob("sentiment/.incomplete/*"))


def test_unknown_task_is_an_error(capsys):
    assert run_cli("train", "sentimant") == 2
    assert "unknown task 'sentimant'; choose one of sentiment" in capsys.readouterr().err


def test_predict_without_text_or_run_is_an_error(capsys, monkeypatch):
    assert run_cli("predict", "sentiment", "--text", "x") == 2
    assert "no finished sentiment run" in capsys.readouterr().err


# ---------------------------------------------------------------- resume after a crash


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
    (run,) = finished_runs(isolated_runs)
    epochs = [int(line.split(",")[0]) for line in (run / "history.csv").read_text().splitlines()[1:]]
    # Nothing restarted from zero: the epochs run once each (a rerun of the epoch that
    # was in flight at the kill is allowed), ending at the last epoch.
    assert epochs[:done_before] == list(range(done_before)) and epochs[-1] == 5
    assert epochs.count(0) == 1


# ---------------------------------------------------------------- slow: real data


@pytest.mark.slow
def test_learns_mr_well_above_chance(isolated_runs):
    assert run_cli("train", "sentiment", "epochs=4", "verbose=2") == 0
    (run,) = finished_runs(isolated_runs)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.70 and metrics["data"]["label_valence_agreement"] > 0.9
