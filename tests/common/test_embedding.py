import numpy as np
import pytest

from common.config import EmbeddingOptions
from common.embedding import embedding_layer, load_text_vectors, word_embedding
from common.errors import UserError

VOCABULARY = ["", "[UNK]", "good", "bad", "film"]


@pytest.mark.parametrize("header", ["", "2 3\n"])
def test_glove_and_word2vec_text_files_fill_known_rows(tmp_path, header):
    path = tmp_path / "vectors.txt"
    path.write_text(header + "good 1 2 3\nbad -1 -2 -3\nabsent 9 9 9\n", encoding="utf-8")
    matrix, found = load_text_vectors(path, VOCABULARY)
    assert found == 2 and matrix.shape == (5, 3)
    np.testing.assert_array_equal(matrix[2], [1, 2, 3])
    np.testing.assert_array_equal(matrix[0], [0, 0, 0])  # padding stays zero


def test_ragged_vector_file_names_the_line(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("good 1 2 3\nbad 1 2\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2"):
        load_text_vectors(path, VOCABULARY)


def test_pretrained_layer_starts_from_the_vectors(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("film 0.5 0.25\n", encoding="utf-8")
    matrix, _ = load_text_vectors(path, VOCABULARY)
    layer = embedding_layer(len(VOCABULARY), 2, pretrained=matrix, trainable=False)
    output = layer(np.array([[4, 0]])).numpy()
    np.testing.assert_allclose(output[0, 0], [0.5, 0.25])
    assert not layer.trainable_weights


def test_word_embedding_follows_the_embedding_options(tmp_path, capsys):
    layer = word_embedding(EmbeddingOptions(embedding_dim=7), VOCABULARY)
    assert layer(np.array([[2, 0]])).shape == (1, 2, 7) and layer.trainable_weights
    path = tmp_path / "vectors.txt"
    path.write_text("good 1 2 3\n", encoding="utf-8")
    frozen = word_embedding(EmbeddingOptions(embeddings=str(path), freeze_embeddings=True), VOCABULARY)
    np.testing.assert_allclose(frozen(np.array([[2]])).numpy()[0, 0], [1, 2, 3])
    assert not frozen.trainable_weights
    assert "1 of 5 vocabulary words found" in capsys.readouterr().out
