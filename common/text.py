"""Text utilities shared by every text task: tokenization, vocabulary, batching.

One rule holds throughout: the Python side that counts tokens to build the vocabulary
and the in-graph `TextVectorization` layer that the export carries use the same
standardization and split, so a word the model saw in training maps to the same id
when a server sends raw text.

Sequences are right-padded with id 0 and masked (the condition cuDNN needs), batched
in buckets of similar length, and never empty: an empty text becomes a single
out-of-vocabulary token, because a fully masked row crashes cuDNN.
"""

import collections
import json

import keras
import numpy as np
import tensorflow as tf

PADDING_TOKEN = ""
UNKNOWN_TOKEN = "[UNK]"
PADDING_ID = 0
UNKNOWN_ID = 1
LEVELS = ("word", "char")


def standardize(texts, level: str = "word", lowercase: bool = True):
    """Normalise raw strings in-graph: optional lower-casing; for words, punctuation
    marks become tokens of their own ("good." -> "good .")."""
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    if level == "word":
        texts = tf.strings.regex_replace(texts, r"([.,!?;:()\[\]{}\"]|'')", r" \1 ")
    return texts


def split(texts, level: str = "word"):
    """Split standardized strings into a ragged batch of tokens (words or characters)."""
    if level == "char":
        return tf.strings.unicode_split(texts, "UTF-8")
    return tf.strings.split(texts)


def tokenize(texts: list[str], level: str = "word", lowercase: bool = True) -> list[list[str]]:
    """Python lists of tokens, produced by exactly the ops the exported graph runs."""
    if level not in LEVELS:
        raise ValueError(f"tokenizer level must be one of {LEVELS}, got {level!r}")
    tokens = split(standardize(tf.constant(texts, dtype=tf.string), level, lowercase), level)
    return [[token.decode("utf-8") for token in row] for row in tokens.to_list()]


def build_vocabulary(token_lists, max_size: int = 20000, min_frequency: int = 1) -> list[str]:
    """Vocabulary from training tokens only: padding and unknown first, then tokens by
    descending frequency (ties alphabetically), at least `min_frequency`, `max_size` total."""
    counts = collections.Counter(token for tokens in token_lists for token in tokens)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = [token for token, count in ranked if count >= min_frequency and token not in (PADDING_TOKEN, UNKNOWN_TOKEN)]
    return [PADDING_TOKEN, UNKNOWN_TOKEN, *kept[: max(0, max_size - 2)]]


def save_vocabulary(vocabulary: list[str], path) -> None:
    """JSON list, so that character vocabularies may hold spaces and newlines."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(list(vocabulary), handle, ensure_ascii=False)


def load_vocabulary(path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class TextEncoder(keras.layers.Layer):
    """Raw strings -> right-padded token ids, truncated to `max_length`, never empty.

    Wraps `TextVectorization` with our standardization so that the same layer serves
    the training pipeline and the exported SavedModel.
    """

    def __init__(self, vocabulary, level="word", lowercase=True, max_length=0, **kwargs):
        super().__init__(**kwargs)
        self.level = level
        self.lowercase = lowercase
        self.max_length = max_length
        self.vectorizer = keras.layers.TextVectorization(
            standardize=lambda texts: standardize(texts, level, lowercase),
            split=lambda texts: split(texts, level),
            vocabulary=list(vocabulary),
            ragged=True,
        )

    def ragged_ids(self, texts):
        """Token ids as a RaggedTensor; an empty row holds one unknown token."""
        ids = self.vectorizer(texts)
        if self.max_length:
            ids = ids[:, : self.max_length]
        # Append an unknown token to empty rows only: a fully masked row crashes cuDNN.
        is_empty = tf.cast(tf.equal(ids.row_lengths(), 0), tf.int64)
        filler = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(is_empty)], tf.constant(UNKNOWN_ID, ids.dtype)), is_empty
        )
        return tf.concat([ids, filler], axis=1)

    def call(self, texts):
        return self.ragged_ids(texts).to_tensor(default_value=PADDING_ID)


def length_boundaries(lengths, bucket_count: int = 8) -> list[int]:
    """Bucket boundaries at length quantiles, so each bucket holds a similar share."""
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        return []
    quantiles = np.quantile(lengths, np.linspace(0, 1, bucket_count + 1)[1:-1])
    return sorted({int(q) + 1 for q in quantiles if q + 1 < lengths.max() + 1})


def bucketed_dataset(features, targets, batch_size: int, shuffle: bool = False, seed: int = 0, boundaries=None):
    """A tf.data pipeline of right-padded batches, grouped by length.

    `features` is a RaggedTensor of token ids; `targets` is a tensor of labels (one per
    row) or a RaggedTensor of per-token labels (padded with 0 like the ids).
    """
    count = int(features.nrows())
    if boundaries is None:
        boundaries = length_boundaries(features.row_lengths().numpy())
    dataset = tf.data.Dataset.from_tensor_slices((features, targets))
    # Slices of a ragged tensor come out as ragged specs; identity makes them plain tensors.
    dataset = dataset.map(lambda x, y: (tf.identity(x), tf.identity(y)), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda x, y: tf.shape(x)[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def pad_in_front(ids, length: int):
    """Pre-pad a ragged batch to `length` (what `keras.utils.pad_sequences` does), in-graph.

    Only for comparing with the common pre-padded pipeline: pre-padding breaks cuDNN
    with masks, so our own pipeline pads at the end.
    """
    ids = ids[:, :length]
    lengths = ids.row_lengths()
    right_padded = ids.to_tensor(default_value=PADDING_ID, shape=[None, length])
    positions = tf.range(length, dtype=lengths.dtype)[tf.newaxis, :] - (length - lengths)[:, tf.newaxis]
    gathered = tf.gather(right_padded, tf.maximum(positions, 0), batch_dims=1)
    return tf.where(positions >= 0, gathered, tf.zeros_like(gathered))
