"""Text utilities shared by every text task: tokenization, vocabulary, ids and back.

One rule holds throughout: the Python side that counts tokens to build the vocabulary
and the in-graph `TextVectorization` layer that the export carries use the same
standardization and split, so a word the model saw in training maps to the same id
when a server sends raw text.

Sequences are right-padded with id 0 and masked (the condition cuDNN needs), and by
default never empty: an empty text becomes a single out-of-vocabulary token, because a
fully masked row crashes cuDNN. `common.pipeline.bucketed_batches` batches them.

Generation and translation need two more things, both opt-in so that classifiers and
taggers see no change: start and end markers (`build_vocabulary(..., reserved=(START_TOKEN,
END_TOKEN))` gives them ids 2 and 3; `TextEncoder(add_start=..., add_end=..., allow_empty=...)`
writes them), and the way back from ids to text (`TextDecoder`), also in the graph so that
an export answers with strings.
"""

import collections
import json

import keras
import tensorflow as tf

PADDING_TOKEN = ""
UNKNOWN_TOKEN = "[UNK]"
PADDING_ID = 0
UNKNOWN_ID = 1
LEVELS = ("word", "char")
# Text that is already tokenized (the Penn Treebank): tokens are split at whitespace only,
# with no punctuation splitting, and joined again with single spaces.
PRETOKENIZED = "token"
ALL_LEVELS = (*LEVELS, PRETOKENIZED)
# Markers for generation and translation. Their ids hold only for a vocabulary built with
# `reserved=(START_TOKEN, END_TOKEN)`; `check_start_end` says whether it was. Raw text can
# never produce them: word standardization splits "[" and "]" off as punctuation, and at
# character level no single character is a marker.
START_TOKEN = "[START]"
END_TOKEN = "[END]"
START_ID = 2
END_ID = 3

# Word standardization puts spaces around these marks; joining words with " " must take the
# spaces away again. Closing marks attach to the word before, opening ones to the word after.
_CLOSING_MARKS = r"[.,!?;:)\]}]"
_OPENING_MARKS = r"[(\[{]"


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
    if level not in ALL_LEVELS:
        raise ValueError(f"tokenizer level must be one of {ALL_LEVELS}, got {level!r}")
    tokens = split(standardize(tf.constant(texts, dtype=tf.string), level, lowercase), level)
    return [[token.decode("utf-8") for token in row] for row in tokens.to_list()]


def build_vocabulary(token_lists, max_size: int = 20000, min_frequency: int = 1, reserved=()) -> list[str]:
    """Vocabulary from training tokens only: padding and unknown first, then the `reserved`
    tokens in the order given (e.g. `(START_TOKEN, END_TOKEN)`, which then get `START_ID` and
    `END_ID`), then tokens by descending frequency (ties alphabetically), at least
    `min_frequency`, `max_size` entries in total. Special and reserved tokens are always kept
    and never counted a second time, even when they also occur in the training tokens."""
    counts = collections.Counter(token for tokens in token_lists for token in tokens)
    return vocabulary_from_counts(counts, max_size, min_frequency, reserved)


def vocabulary_from_counts(counts: dict, max_size: int = 20000, min_frequency: int = 1, reserved=()) -> list[str]:
    """`build_vocabulary` from token counts already made (token -> count)."""
    head = [PADDING_TOKEN, UNKNOWN_TOKEN]
    head += [token for token in dict.fromkeys(reserved) if token not in head]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    special = set(head)
    kept = [token for token, count in ranked if count >= min_frequency and token not in special]
    return [*head, *kept[: max(0, max_size - len(head))]]


def check_start_end(vocabulary) -> None:
    """Raise a ValueError unless `vocabulary` holds the start and end markers at `START_ID`
    and `END_ID`, as `build_vocabulary(..., reserved=(START_TOKEN, END_TOKEN))` makes it."""
    expected = [PADDING_TOKEN, UNKNOWN_TOKEN, START_TOKEN, END_TOKEN]
    found = list(vocabulary[: len(expected)])
    if found != expected:
        raise ValueError(
            f"the vocabulary must begin with {expected} so that START_ID={START_ID} and END_ID={END_ID}, "
            f"but it begins with {found}: build it with build_vocabulary(..., reserved=(START_TOKEN, END_TOKEN))"
        )


def save_vocabulary(vocabulary: list[str], path) -> None:
    """JSON list, so that character vocabularies may hold spaces and newlines."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(list(vocabulary), handle, ensure_ascii=False)


def load_vocabulary(path) -> list[str]:
    """The vocabulary that `save_vocabulary` wrote."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@keras.saving.register_keras_serializable(package="rnn_suite")
class TextEncoder(keras.layers.Layer):
    """Raw strings -> right-padded token ids, truncated to `max_length` tokens.

    Wraps `TextVectorization` with our standardization so that the same layer serves
    the training pipeline and the exported SavedModel.

    The defaults suit a classifier: an empty text becomes one unknown token. For generation
    and translation (the vocabulary must then come from `build_vocabulary(...,
    reserved=(START_TOKEN, END_TOKEN))`):

    - `add_start` / `add_end` put `START_ID` in front of / `END_ID` after every row. They are
      added after truncation, so `max_length` counts text tokens only and a row may hold up
      to `max_length + 2` ids; the markers are never cut off.
    - `allow_empty=True` keeps an empty text empty instead of filling it with an unknown
      token: an empty prompt with `add_start` is exactly `[START_ID]`. Without
      `allow_empty`, the unknown filler comes first and the markers go around it.
    """

    def __init__(
        self,
        vocabulary,
        level="word",
        lowercase=True,
        max_length=0,
        *,
        add_start=False,
        add_end=False,
        allow_empty=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if add_start or add_end:
            check_start_end(vocabulary)
        self.level = level
        self.lowercase = lowercase
        self.max_length = max_length
        self.add_start = add_start
        self.add_end = add_end
        self.allow_empty = allow_empty
        self.vectorizer = keras.layers.TextVectorization(
            standardize=lambda texts: standardize(texts, level, lowercase),
            split=lambda texts: split(texts, level),
            vocabulary=list(vocabulary),
            ragged=True,
        )

    def ragged_ids(self, texts):
        """Token ids as a RaggedTensor: the text's tokens (at most `max_length`; an empty
        text gives one unknown token unless `allow_empty`), between the optional markers."""
        ids = self.vectorizer(texts)
        if self.max_length:
            ids = ids[:, : self.max_length]
        if not self.allow_empty:
            # Append an unknown token to empty rows only: a fully masked row crashes cuDNN.
            is_empty = tf.cast(tf.equal(ids.row_lengths(), 0), tf.int64)
            filler = tf.RaggedTensor.from_row_lengths(
                tf.fill([tf.reduce_sum(is_empty)], tf.constant(UNKNOWN_ID, ids.dtype)), is_empty
            )
            ids = tf.concat([ids, filler], axis=1)
        parts = [ids]
        if self.add_start:
            parts.insert(0, self._marker_column(ids, START_ID))
        if self.add_end:
            parts.append(self._marker_column(ids, END_ID))
        return tf.concat(parts, axis=1) if len(parts) > 1 else ids

    @staticmethod
    def _marker_column(ids, marker_id):
        """One `marker_id` per row of `ids`, as a ragged column that concatenates with it."""
        column = tf.fill([ids.nrows(), 1], tf.constant(marker_id, ids.dtype))
        return tf.RaggedTensor.from_tensor(column, row_splits_dtype=ids.row_splits.dtype)

    def call(self, texts):
        return self.ragged_ids(texts).to_tensor(default_value=PADDING_ID)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=[str(token) for token in self.vectorizer.get_vocabulary()],
            level=self.level,
            lowercase=self.lowercase,
            max_length=self.max_length,
            add_start=self.add_start,
            add_end=self.add_end,
            allow_empty=self.allow_empty,
        )
        return config


def join_tokens(tokens, level: str = "word"):
    """Join a ragged batch of string tokens into one string per row, in-graph.

    Characters join with nothing, so character-level text comes back as it was (lower-cased
    if it was encoded so). Words join with " ", then the spaces that word standardization put
    around punctuation are taken away again: "hello , world !" -> "hello, world!",
    "( a )" -> "(a)", 'say " hi "' -> 'say "hi"' (double quotes pair up left to right).
    Contractions need nothing: standardization never splits "don't".

    Not restored: letter case; the original whitespace (several spaces, tabs and newlines all
    read as one space); a space that really stood before a closing or after an opening mark;
    marks inside numbers and abbreviations ("3.5" -> "3. 5", "e.g." -> "e. g."); and the
    spaces around the two-apostrophe quote "''" and around unpaired double quotes.
    """
    if level not in ALL_LEVELS:
        raise ValueError(f"tokenizer level must be one of {ALL_LEVELS}, got {level!r}")
    if level == "char":
        return tf.strings.reduce_join(tokens, axis=-1, separator="")
    texts = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    if level == PRETOKENIZED:
        return texts
    texts = tf.strings.regex_replace(texts, " (" + _CLOSING_MARKS + ")", r"\1")
    texts = tf.strings.regex_replace(texts, "(" + _OPENING_MARKS + ") ", r"\1")
    return tf.strings.regex_replace(texts, r'" ([^"]*?) "', r'"\1"')


@keras.saving.register_keras_serializable(package="rnn_suite")
class TextDecoder(keras.layers.Layer):
    """Token ids -> text, in-graph: the way back for generated or translated sequences.

    Takes an int tensor `ids` [batch, time] (or a RaggedTensor) and optionally `lengths`
    [batch] (ids at or past a row's length are ignored); returns a string tensor [batch].
    Each row stops at its first end marker; padding and start markers are dropped wherever
    they stand; an unknown id, or one outside the vocabulary, reads as "[UNK]". Markers are
    recognised by their tokens, so a vocabulary without them decodes every id as a word.
    Tokens are joined as `join_tokens` describes (see there what is not restored).
    """

    def __init__(self, vocabulary, level="word", **kwargs):
        super().__init__(**kwargs)
        if level not in ALL_LEVELS:
            raise ValueError(f"tokenizer level must be one of {ALL_LEVELS}, got {level!r}")
        vocabulary = tuple(vocabulary)
        if vocabulary[:2] != (PADDING_TOKEN, UNKNOWN_TOKEN):
            raise ValueError(
                f"the vocabulary must begin with {[PADDING_TOKEN, UNKNOWN_TOKEN]} (ids {PADDING_ID} and "
                f"{UNKNOWN_ID}), as build_vocabulary makes it; it begins with {list(vocabulary[:2])}"
            )
        self.vocabulary = vocabulary
        self.level = level
        self.start_id = vocabulary.index(START_TOKEN) if START_TOKEN in vocabulary else None
        self.end_id = vocabulary.index(END_TOKEN) if END_TOKEN in vocabulary else None

    def call(self, ids, lengths=None):
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=PADDING_ID)
        ids = tf.cast(ids, tf.int64)
        size = len(self.vocabulary)
        # tf.gather fails on CPU and reads zeros on GPU past the table; neither is an answer.
        ids = tf.where((ids >= 0) & (ids < size), ids, tf.constant(UNKNOWN_ID, tf.int64))
        keep = tf.not_equal(ids, PADDING_ID)
        if lengths is not None:
            positions = tf.range(tf.shape(ids, out_type=tf.int64)[1])
            keep &= positions[tf.newaxis, :] < tf.cast(lengths, tf.int64)[:, tf.newaxis]
        if self.start_id is not None:
            keep &= tf.not_equal(ids, self.start_id)
        if self.end_id is not None:
            # Everything from the first end marker on: a generator keeps writing after it.
            ended = tf.cumsum(tf.cast(tf.equal(ids, self.end_id), tf.int32), axis=1) > 0
            keep &= ~ended
        # A constant built at trace time lands in the graph, so a SavedModel carries the table.
        tokens = tf.gather(tf.constant(self.vocabulary, dtype=tf.string), ids)
        return join_tokens(tf.ragged.boolean_mask(tokens, keep), self.level)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=list(self.vocabulary), level=self.level)
        return config


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
