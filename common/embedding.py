"""Token embeddings: trained from scratch, or started from word2vec/GloVe text vectors."""

import keras
import numpy as np

from common.errors import UserError


def load_text_vectors(path, vocabulary: list[str]) -> tuple[np.ndarray, int]:
    """Embedding matrix for `vocabulary` from a word2vec or GloVe text file.

    Accepts both formats: GloVe has no header; word2vec text starts with a
    "count dimension" line. Rows for words absent from the file are drawn from a small
    normal distribution; the padding row is zero. Returns (matrix, words found).
    """
    index = {word: position for position, word in enumerate(vocabulary)}
    matrix = None
    found = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if line_number == 1 and len(parts) == 2 and all(part.isdigit() for part in parts):
                    continue  # word2vec header
                if len(parts) < 2:
                    raise UserError(f"{path}, line {line_number}: expected a word followed by numbers")
                if matrix is None:
                    dimension = len(parts) - 1
                    rng = np.random.default_rng(0)
                    matrix = rng.normal(0.0, 0.1, (len(vocabulary), dimension)).astype("float32")
                if len(parts) - 1 != matrix.shape[1]:
                    raise UserError(f"{path}, line {line_number}: {len(parts) - 1} numbers, expected {matrix.shape[1]}")
                position = index.get(parts[0])
                if position is None:
                    continue
                try:
                    matrix[position] = np.asarray(parts[1:], dtype="float32")
                except ValueError:
                    raise UserError(f"{path}, line {line_number}: not a number in the vector") from None
                found += 1
    except FileNotFoundError:
        raise UserError(f"embeddings file not found: {path}") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if matrix is None:
        raise UserError(f"{path}: no vectors in the file")
    matrix[0] = 0.0  # padding
    return matrix, found


def embedding_layer(vocabulary_size: int, dimension: int, pretrained=None, trainable: bool = True, name="embedding"):
    """An Embedding that masks id 0 (padding), optionally initialised from `pretrained`."""
    initializer = "uniform" if pretrained is None else keras.initializers.Constant(pretrained)
    return keras.layers.Embedding(
        vocabulary_size,
        dimension,
        embeddings_initializer=initializer,
        mask_zero=True,
        trainable=trainable,
        name=name,
    )


def word_embedding(options, vocabulary: list[str], name: str = "embedding") -> keras.layers.Embedding:
    """The embedding the `EmbeddingOptions` ask for: `embedding_dim` wide and trained from
    scratch, or started from the vectors of the `embeddings` file (and frozen with
    `freeze_embeddings`); prints how many vocabulary words the file had."""
    pretrained, dimension = None, options.embedding_dim
    if options.embeddings:
        pretrained, found = load_text_vectors(options.embeddings, vocabulary)
        dimension = pretrained.shape[1]
        print(f"embeddings: {found} of {len(vocabulary)} vocabulary words found in {options.embeddings}")
    return embedding_layer(len(vocabulary), dimension, pretrained, trainable=not options.freeze_embeddings, name=name)
