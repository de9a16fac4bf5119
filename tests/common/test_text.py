import keras
import numpy as np
import tensorflow as tf

from common import text


def test_tokenize_separates_punctuation_and_lowercases():
    assert text.tokenize(["Good film, REALLY good!"]) == [["good", "film", ",", "really", "good", "!"]]
    assert text.tokenize(["Ab c"], level="char", lowercase=False) == [["A", "b", " ", "c"]]


def test_vocabulary_counts_training_tokens_only_with_limits():
    vocabulary = text.build_vocabulary([["b", "a", "b"], ["c", "b", "a"]], max_size=4, min_frequency=2)
    assert vocabulary == ["", "[UNK]", "b", "a"]
    assert text.build_vocabulary([["x"]], max_size=3, min_frequency=2) == ["", "[UNK]"]


def test_encoder_maps_like_python_tokenizer_and_right_pads():
    vocabulary = text.build_vocabulary(text.tokenize(["good film", "bad film ."]))
    encoder = text.TextEncoder(vocabulary)
    ids = encoder(tf.constant(["Good film.", "unseen"])).numpy()
    index = {token: position for position, token in enumerate(vocabulary)}
    assert ids.tolist() == [[index["good"], index["film"], index["."]], [text.UNKNOWN_ID, 0, 0]]


def test_encoder_truncates_and_never_returns_an_empty_row():
    encoder = text.TextEncoder(["", "[UNK]", "a"], max_length=3)
    ragged = encoder.ragged_ids(tf.constant(["a a a a a a", "", "   "]))
    assert ragged.to_list() == [[2, 2, 2], [1], [1]]


def test_character_vocabulary_round_trips_spaces_and_newlines(tmp_path):
    vocabulary = text.build_vocabulary(text.tokenize(["a b\nc"], level="char"))
    text.save_vocabulary(vocabulary, tmp_path / "vocabulary.json")
    assert text.load_vocabulary(tmp_path / "vocabulary.json") == vocabulary
    assert " " in vocabulary and "\n" in vocabulary


def test_bucketed_batches_are_right_padded_grouped_and_keep_labels():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=200)
    rows = [list(range(1, length + 1)) for length in lengths]  # row i: 1..length, so length = label
    ids = tf.ragged.constant(rows, dtype=tf.int64)
    labels = tf.constant(lengths, dtype=tf.int32)
    padded_cells = 0
    seen = 0
    for batch_ids, batch_labels in text.bucketed_dataset(ids, labels, batch_size=16, shuffle=True, seed=1):
        batch_ids = batch_ids.numpy()
        real = (batch_ids != 0).sum(axis=1)
        assert real.tolist() == batch_labels.numpy().tolist()  # labels stay with their rows
        for row, length in zip(batch_ids, real):
            assert (row[:length] != 0).all() and (row[length:] == 0).all()  # padding at the end
        padded_cells += batch_ids.size
        seen += len(batch_ids)
    assert seen == 200
    # Bucketing pads far less than padding everything to the longest row.
    assert padded_cells < 0.7 * 200 * lengths.max()


def test_pad_in_front_matches_keras_pad_sequences():
    rows = [[3, 4, 5], [6], [7, 8]]
    expected = keras.utils.pad_sequences(rows, maxlen=4)
    actual = text.pad_in_front(tf.ragged.constant(rows, dtype=tf.int64), 4).numpy()
    np.testing.assert_array_equal(actual, expected)
