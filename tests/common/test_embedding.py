import json
import struct

import keras
import numpy as np
import pandas
import pytest

from common import embedding
from common.config import EmbeddingOptions
from common.embedding import (
    PretrainedEmbedding,
    UnfreezeEmbeddings,
    embedding_layer,
    pretrained_vectors,
    widen_vocabulary,
    word_embedding,
)
from common.errors import UserError

VOCABULARY = ["", "[UNK]", "good", "bad", "film"]


def write_text_vectors(path, rows: dict, header: bool = False):
    lines = [f"{len(rows)} {len(next(iter(rows.values())))}"] if header else []
    lines += [" ".join([word, *map(str, vector)]) for word, vector in rows.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_binary_vectors(path, rows: dict):
    """word2vec's binary format, as its C tool and gensim write it."""
    dimension = len(next(iter(rows.values())))
    with open(path, "wb") as handle:
        handle.write(f"{len(rows)} {dimension}\n".encode())
        for word, vector in rows.items():
            handle.write(word.encode("utf-8") + b" " + struct.pack(f"<{dimension}f", *vector) + b"\n")
    return path


@pytest.mark.parametrize("header", [False, True])
def test_glove_and_word2vec_text_files_fill_known_rows(tmp_path, header):
    rows = {"good": [1, 2, 3], "bad": [-1, -2, -3], "x": [9, 9, 9]}
    path = write_text_vectors(tmp_path / "vectors.txt", rows, header)
    match = pretrained_vectors(str(path), VOCABULARY)
    assert match.found == 2 and match.matrix.shape == (5, 3)
    np.testing.assert_array_equal(match.matrix[2], [1, 2, 3])
    np.testing.assert_array_equal(match.matrix[0], [0, 0, 0])  # padding stays zero
    assert match.summary() == {"source": str(path), "found": 2, "of": 3, "share": 0.6667}


def test_word2vec_binary_reads_the_same_vectors_as_text(tmp_path):
    rows = {"good": [0.5, -1.25], "bad": [2.0, 0.125], "café": [1.0, 1.0]}
    binary = pretrained_vectors(str(write_binary_vectors(tmp_path / "v.bin", rows)), [*VOCABULARY, "café"])
    text = pretrained_vectors(str(write_text_vectors(tmp_path / "v.txt", rows)), [*VOCABULARY, "café"])
    assert binary.found == text.found == 3
    np.testing.assert_array_equal(binary.matrix[[2, 3, 5]], text.matrix[[2, 3, 5]])


def test_a_word_without_its_exact_form_takes_the_lower_cased_vector(tmp_path):
    path = write_text_vectors(tmp_path / "v.txt", {"paris": [1, 1], "Rome": [2, 2], "rome": [3, 3]})
    match = pretrained_vectors(str(path), ["", "[UNK]", "Paris", "Rome", "rome"])
    np.testing.assert_array_equal(match.matrix[2:], [[1, 1], [2, 2], [3, 3]])  # exact "Rome" wins


def test_unknown_words_start_from_the_mean_and_spread_of_the_vectors(tmp_path):
    rng = np.random.default_rng(1)
    rows = {f"w{index}": rng.normal([5.0, -3.0], [0.5, 2.0]) for index in range(2000)}
    vocabulary = ["", "[UNK]", *[f"unseen{index}" for index in range(2000)]]
    match = pretrained_vectors(str(write_text_vectors(tmp_path / "v.txt", rows)), vocabulary)
    unknown = match.matrix[2:]
    np.testing.assert_allclose(unknown.mean(axis=0), [5.0, -3.0], atol=0.15)
    np.testing.assert_allclose(unknown.std(axis=0), [0.5, 2.0], rtol=0.1)


@pytest.mark.parametrize(
    "content, expected",
    [("good 1 2 3\nbad 1 2\n", "line 2: 2 numbers, expected 3"), ("good 1 x 3\n", "line 1: not a number")],
)
def test_bad_vector_files_name_the_line(tmp_path, content, expected):
    path = tmp_path / "vectors.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=expected):
        pretrained_vectors(str(path), VOCABULARY)


def test_missing_or_cut_short_files_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="embeddings file not found.*glove-6b-50d"):
        pretrained_vectors(str(tmp_path / "missing.txt"), VOCABULARY)
    path = write_binary_vectors(tmp_path / "v.bin", {"good": [1.0, 2.0], "bad": [3.0, 4.0]})
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(UserError, match="ends inside the vector of word 2 of 2"):
        pretrained_vectors(str(path), VOCABULARY)


def test_builtin_vectors_are_read_memory_mapped_from_the_package(tmp_path, monkeypatch):
    """The wheel's layout, with toy vectors: a .npy matrix and a parquet list of words."""
    np.save(tmp_path / "glove_6B_50d_emb.npy", np.arange(6, dtype="float32").reshape(3, 2))
    pandas.DataFrame({"index": ["the", "good", "film"]}).to_parquet(tmp_path / "glove_6B_index.parquet")
    monkeypatch.setattr(embedding, "fetch_builtin", lambda name: tmp_path)
    embedding.read_builtin.cache_clear()  # read once per process: make it read the toy files
    words, matrix = embedding.read_builtin("glove-6b-50d")
    assert words == ["the", "good", "film"] and isinstance(matrix, np.memmap)
    match = pretrained_vectors("glove-6b-50d", VOCABULARY)
    assert match.found == 2
    np.testing.assert_array_equal(match.matrix[[2, 4]], [[2, 3], [4, 5]])
    embedding.read_builtin.cache_clear()  # the toy files are not the package


def test_pretrained_layer_starts_from_the_vectors_and_can_stay_fixed(tmp_path):
    match = pretrained_vectors(str(write_text_vectors(tmp_path / "v.txt", {"film": [0.5, 0.25]})), VOCABULARY)
    layer = embedding_layer(len(VOCABULARY), 2, pretrained=match.matrix, trainable=False)
    np.testing.assert_allclose(layer(np.array([[4, 0]])).numpy()[0, 0], [0.5, 0.25])
    assert not layer.trainable_weights


def test_word_embedding_follows_the_embedding_options(tmp_path, capsys):
    layer = word_embedding(EmbeddingOptions(embedding_dim=7), VOCABULARY)
    assert layer(np.array([[2, 0]])).shape == (1, 2, 7) and layer.trainable_weights
    path = write_text_vectors(tmp_path / "v.txt", {"good": [1, 2, 3]})
    frozen = word_embedding(EmbeddingOptions(embeddings=str(path), freeze_embeddings=True), VOCABULARY)
    np.testing.assert_allclose(frozen(np.array([[2]])).numpy()[0, 0], [1, 2, 3])
    assert not frozen.trainable_weights
    assert "1 of 3 vocabulary words found" in capsys.readouterr().out


def tiny_classifier(layer):
    token_ids = keras.Input(shape=(None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(token_ids))
    model = keras.Model(token_ids, keras.layers.Dense(2, activation="softmax")(pooled))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    return model


def test_frozen_epochs_hold_the_vectors_then_fine_tune_them(tmp_path):
    path = write_text_vectors(tmp_path / "v.txt", {"good": [1, 2, 3], "bad": [-1, -2, -3]})
    layer = word_embedding(EmbeddingOptions(embeddings=str(path), frozen_epochs=2), VOCABULARY)
    assert isinstance(layer, PretrainedEmbedding)
    model = tiny_classifier(layer)
    ids, labels = np.array([[2, 4, 0], [3, 4, 0]] * 8), np.array([1, 0] * 8)
    start = layer.embeddings.numpy().copy()
    model.fit(ids, labels, epochs=2, verbose=0, callbacks=[UnfreezeEmbeddings()])
    np.testing.assert_array_equal(layer.embeddings.numpy(), start)  # not one step moved them
    model.fit(ids, labels, epochs=3, initial_epoch=2, verbose=0, callbacks=[UnfreezeEmbeddings()])
    assert np.abs(layer.embeddings.numpy() - start).max() > 1e-3
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    again = tiny_classifier(word_embedding(EmbeddingOptions(embeddings=str(path), frozen_epochs=2), VOCABULARY))
    again.load_weights(weights)
    np.testing.assert_allclose(again.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-6)


def test_a_model_with_pretrained_vectors_saves_and_loads_without_the_vectors_in_its_config(tmp_path):
    """`make export` rebuilds from model.keras: the layer (and its gate) must be found again."""
    path = write_text_vectors(tmp_path / "v.txt", {"good": [1, 2, 3], "bad": [-1, -2, -3]})
    model = tiny_classifier(word_embedding(EmbeddingOptions(embeddings=str(path), frozen_epochs=2), VOCABULARY))
    model.layers[1].gate.is_open.assign(0.0)
    ids = np.array([[2, 4, 0], [3, 4, 0]])
    model.save(tmp_path / "model.keras")
    again = keras.models.load_model(tmp_path / "model.keras", compile=False)
    np.testing.assert_allclose(again.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-6)
    [layer] = [layer for layer in again.layers if isinstance(layer, PretrainedEmbedding)]
    assert layer.frozen_epochs == 2 and layer.pretrained["found"] == 2
    assert float(layer.gate.is_open.numpy()) == 0.0
    assert "Constant" not in json.dumps(model.get_config())  # the vectors live in the weights only


def test_the_vocabulary_widens_with_validation_words_that_have_vectors(tmp_path):
    path = write_text_vectors(tmp_path / "v.txt", {"good": [1, 1], "superb": [2, 2], "dull": [3, 3]})
    options = EmbeddingOptions(embeddings=str(path), embedding_vocabulary="train+vectors")
    widened = widen_vocabulary(VOCABULARY, [["a", "Superb", "film"], ["dull", "zzz", "superb"]], options)
    assert widened == [*VOCABULARY, "Superb", "dull", "superb"]
    assert widen_vocabulary(VOCABULARY, [["dull"]], EmbeddingOptions(embeddings=str(path))) == VOCABULARY


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"embedding_vocabulary": "train+vectors"}, "needs pretrained vectors"),
        ({"embeddings": "glove-6b-50d", "freeze_embeddings": True, "frozen_epochs": 2}, "keeps the vectors fixed"),
        ({"embeddings": "glove-6b-50d", "embedding_vocabulary": "all"}, "embedding_vocabulary"),
    ],
)
def test_contradictory_embedding_options_are_refused(options, expected):
    with pytest.raises(UserError, match=expected):
        EmbeddingOptions(**options).validate()


@pytest.mark.slow
def test_the_builtin_glove_vectors_are_the_published_ones():
    """The real 76 MB package (`make data` fetches it): row 0 is "the", as Stanford's file."""
    words, matrix = embedding.read_builtin("glove-6b-50d")
    assert len(words) == 400_000 and matrix.shape == (400_000, 50) and words[0] == "the"
    np.testing.assert_allclose(matrix[0, :3], [0.418, 0.24968, -0.41242], rtol=1e-5)
