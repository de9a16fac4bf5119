import json
import subprocess
import sys

import keras
import numpy as np
import pytest
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


def test_pad_in_front_matches_keras_pad_sequences():
    rows = [[3, 4, 5], [6], [7, 8]]
    expected = keras.utils.pad_sequences(rows, maxlen=4)
    actual = text.pad_in_front(tf.ragged.constant(rows, dtype=tf.int64), 4).numpy()
    np.testing.assert_array_equal(actual, expected)


# ---------------------------------------------------------------- generation and translation

MARKED = ["", "[UNK]", text.START_TOKEN, text.END_TOKEN, "a", "b"]  # a = 4, b = 5


def test_vocabulary_reserves_markers_after_padding_and_unknown():
    tokens = [["b", text.END_TOKEN, "a", "b"], ["a", "b"]]
    vocabulary = text.build_vocabulary(tokens, max_size=5, reserved=(text.START_TOKEN, text.END_TOKEN))
    assert vocabulary == ["", "[UNK]", "[START]", "[END]", "b"]  # [END] is not counted a second time
    assert vocabulary.index(text.START_TOKEN) == text.START_ID and vocabulary.index(text.END_TOKEN) == text.END_ID
    text.check_start_end(vocabulary)
    # Special tokens are kept even when max_size is smaller than their number.
    assert text.build_vocabulary(tokens, max_size=2, reserved=(text.START_TOKEN,)) == ["", "[UNK]", "[START]"]
    with pytest.raises(ValueError, match="reserved="):
        text.check_start_end(text.build_vocabulary(tokens))
    with pytest.raises(ValueError, match="reserved="):
        text.TextEncoder(["", "[UNK]", "a"], add_end=True)


def test_encoder_adds_markers_after_truncation():
    encoder = text.TextEncoder(MARKED, max_length=3, add_start=True, add_end=True)
    ragged = encoder.ragged_ids(tf.constant(["a a a a a", "b", ""]))
    # The markers survive truncation; without allow_empty an empty text still reads as unknown.
    assert ragged.to_list() == [[2, 4, 4, 4, 3], [2, 5, 3], [2, 1, 3]]
    assert encoder(tf.constant(["b", "a a"])).numpy().tolist() == [[2, 5, 3, 0], [2, 4, 4, 3]]
    only_end = text.TextEncoder(MARKED, max_length=2, add_end=True)
    assert only_end.ragged_ids(tf.constant(["a b a"])).to_list() == [[4, 5, 3]]


def test_allow_empty_keeps_an_empty_prompt_empty():
    prompt = text.TextEncoder(MARKED, add_start=True, allow_empty=True)
    assert prompt.ragged_ids(tf.constant([""])).to_list() == [[text.START_ID]]
    assert prompt.ragged_ids(tf.constant(["  ", "a"])).to_list() == [[text.START_ID], [text.START_ID, 4]]
    plain = text.TextEncoder(MARKED, allow_empty=True)
    assert plain.ragged_ids(tf.constant(["", "b"])).to_list() == [[], [5]]
    assert plain(tf.constant(["", ""])).shape == (2, 0)


def test_words_round_trip_lower_cased_with_punctuation_reattached():
    texts = ["Hello, world!", "(A) test: ok?", 'Say "hi" now.', "Don't stop... [yes]"]
    vocabulary = text.build_vocabulary(text.tokenize(texts), reserved=(text.START_TOKEN, text.END_TOKEN))
    encoder = text.TextEncoder(vocabulary, add_start=True, add_end=True)
    decoder = text.TextDecoder(vocabulary)
    decoded = decoder(encoder(tf.constant([*texts, "Hello, stranger!"]))).numpy().tolist()
    assert decoder(encoder.ragged_ids(tf.constant(texts))).numpy().tolist() == decoded[:-1]  # ragged ids too
    assert [line.decode() for line in decoded] == [
        "hello, world!",
        "(a) test: ok?",
        'say "hi" now.',
        "don't stop... [yes]",
        "hello, [UNK]!",  # an unknown word comes back as the unknown token
    ]


def test_characters_round_trip_spaces_and_newlines():
    texts = ["Ab c!", "x\ny "]
    vocabulary = text.build_vocabulary(text.tokenize(texts, level="char"), reserved=(text.START_TOKEN, text.END_TOKEN))
    encoder = text.TextEncoder(vocabulary, level="char", add_start=True, add_end=True)
    decoder = text.TextDecoder(vocabulary, level="char")
    decoded = decoder(encoder(tf.constant([*texts, "az"]))).numpy().tolist()
    assert decoded == [b"ab c!", b"x\ny ", b"a[UNK]"]


def test_decoder_stops_at_end_and_drops_padding_and_start():
    decoder = text.TextDecoder(MARKED)
    ids = tf.constant([[2, 4, 3, 5, 5], [4, 0, 5, 0, 0], [2, 5, 5, 5, 5], [9, -1, 4, 0, 0]], tf.int32)
    # Out-of-range ids read as unknown rather than failing the whole batch.
    assert decoder(ids).numpy().tolist() == [b"a", b"a b", b"b b b b", b"[UNK] [UNK] a"]
    decode = tf.function(decoder, input_signature=[tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None])])
    lengths = tf.constant([5, 5, 3, 1], tf.float32)  # lengths of any numeric type
    assert decode(tf.cast(ids, tf.int64), lengths).numpy().tolist() == [b"a", b"a b", b"b b", b"[UNK]"]
    # Without markers in the vocabulary, ids 2 and 3 are words like any other.
    assert text.TextDecoder(["", "[UNK]", "x", "y"])(tf.constant([[2, 3, 2]])).numpy().tolist() == [b"x y x"]


def test_encoder_and_decoder_survive_keras_serialization():
    encoder = text.TextEncoder(MARKED, "word", False, 4, add_start=True, allow_empty=True, name="prompt")
    decoder = text.TextDecoder(MARKED, "char", name="reader")
    for layer in (encoder, decoder):
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        restored = keras.saving.deserialize_keras_object(config)
        assert type(restored) is type(layer) and restored.get_config() == layer.get_config()
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(encoder)).add_start


# Imports only TensorFlow and json: the export must not need this project to run. The
# caller puts `path` and `texts` (JSON) in front.
FRESH_PROCESS = """
import json
import tensorflow as tf
codec = tf.saved_model.load(path)
texts = tf.constant(json.loads(texts))
ids = codec.encode(texts)
answer = {
    "ids": ids.numpy().tolist(),
    "decoded": [line.decode("utf-8") for line in codec.decode(ids).numpy()],
    "served": [line.decode("utf-8") for line in codec.signatures["serving_default"](text=texts)["text"].numpy()],
}
print(json.dumps(answer))
"""


def test_saved_model_round_trip_in_a_fresh_process(tmp_path):
    texts = ["Hello, world!", "", "(Unseen) hello"]
    tokens = text.tokenize(["Hello, world!", "( )"])  # "unseen" is not in the vocabulary
    vocabulary = text.build_vocabulary(tokens, reserved=(text.START_TOKEN, text.END_TOKEN))
    encoder = text.TextEncoder(vocabulary, add_start=True, add_end=True, allow_empty=True)
    decoder = text.TextDecoder(vocabulary)

    class Codec(tf.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def encode(self, texts):
            return self.encoder(texts)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64)])
        def decode(self, ids):
            return self.decoder(ids)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def round_trip(self, texts):
            return {"text": self.decoder(self.encoder(texts))}

    codec = Codec()
    encoder(tf.constant([""]))  # builds the layer, which tracking requires
    tf.saved_model.save(codec, str(tmp_path / "codec"), signatures={"serving_default": codec.round_trip})
    result = subprocess.run(
        [sys.executable, "-c", f"path = {str(tmp_path / 'codec')!r}\ntexts = {json.dumps(texts)!r}\n{FRESH_PROCESS}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    expected = [line.decode("utf-8") for line in codec.round_trip(tf.constant(texts))["text"].numpy()]
    assert expected == ["hello, world!", "", "([UNK]) hello"]
    assert answer["ids"] == codec.encode(tf.constant(texts)).numpy().tolist()
    assert answer["decoded"] == expected and answer["served"] == expected


def test_pretokenized_text_is_split_at_spaces_only_and_joined_back():
    """PTB-style tokens ("mr.", "n't", "<unk>", "[UNK]") stay whole; nothing is split off."""
    line = "mr. <unk> said he does n't know [UNK] 's plans"
    assert text.tokenize([line], text.PRETOKENIZED, lowercase=False) == [line.split()]
    encoder = text.TextEncoder(["", "[UNK]", "mr.", "said"], text.PRETOKENIZED, lowercase=False)
    assert encoder(tf.constant(["mr. said [UNK] zebra"])).numpy().tolist() == [[2, 3, 1, 1]]
    decoder = text.TextDecoder(["", "[UNK]", "mr.", "n't", "."], text.PRETOKENIZED)
    assert decoder(tf.constant([[2, 3, 4]])).numpy().tolist() == [b"mr. n't ."]
