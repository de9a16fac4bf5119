"""Translation data: the Bible reader (two SWORD modules aligned by verse), your own TSV
pairs, tensorflow-datasets, the split (by book or at random), in-graph normalization and
tokenization of both languages, the vocabularies, and the tf.data pipelines."""

import dataclasses
import functools
import html
import re
import sys
import unicodedata

import numpy as np
import tensorflow as tf

from common import pipeline, sources, splits, text
from common.embedding import widen_vocabulary
from common.errors import UserError
from common.pipeline import per_replica_batch
from common.tables import read_text_file
from common.task import TaskData
from tasks.translation.config import BUILTIN_DATASETS, SERVE_MAX_SOURCE_TOKENS, TFDS_DATASETS, USER_FILES, Config


def sword_package(package: str, version: str, sha256: str, description: str) -> sources.DebianPackage:
    """A Debian SWORD text package (architecture "all")."""
    return sources.DebianPackage(description, package, version, f"{package}_{version}_all.deb", sha256)


# Licences: both texts are in the public domain (the packages' copyright files say so).
WEB_PACKAGE = sword_package(
    "sword-text-web",
    "426.0-1",
    "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
    "the World English Bible (SWORD module engWEB2015eb, public domain)",
)
RV1909_PACKAGE = sword_package(
    "sword-text-sparv",
    "2.60-1",
    "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf",
    "the Reina-Valera 1909 Spanish Bible (SWORD module spaRV1909eb, public domain)",
)
BIBLE_MODULES = ((WEB_PACKAGE, "engWEB2015eb"), (RV1909_PACKAGE, "spaRV1909eb"))

# ---------------------------------------------------------------- normalization (in the graph)

# A subset of NFKC that plain TensorFlow ops can do (unicode normalization proper needs
# tensorflow-text): decomposed accents are composed (accents are kept), typographic spaces,
# quotes, ellipses and dashes become their plain forms, and Spanish opening marks and dashes
# become tokens of their own.
_ACCENTED = "áéíóúàèìòùâêîôûãõäëïöüçñÁÉÍÓÚÀÈÌÒÙÂÊÎÔÛÃÕÄËÏÖÜÇÑ"
_DECOMPOSED = {unicodedata.normalize("NFD", letter): letter for letter in _ACCENTED}
_PLAIN_FORMS = (
    ("[\u00a0\u2000-\u200a\u202f\u205f\u3000]", " "),
    ("[\u2018\u2019\u201a\u201b\u2032]", "'"),
    ("[\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033]", '"'),
    ("\u2026", "..."),
    ("[\u2013\u2014\u2015]", " \u2014 "),
    ("([\u00bf\u00a1])", r" \1 "),
)
# After joining words: these marks attach to their neighbours again.
_REATTACH = (("([\u00bf\u00a1]) ", r"\1"), (" ?\u2014 ?", "\u2014"))


def normalize(texts):
    """Raw strings -> normalized strings, in-graph (see `_PLAIN_FORMS`); case is left to
    the encoder's `lowercase`."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    has_combining = tf.reduce_any(tf.strings.regex_full_match(texts, "(?s).*[\u0300-\u036f].*"))
    texts = tf.cond(has_combining, lambda: _compose_accents(texts), lambda: texts)
    for pattern, replacement in _PLAIN_FORMS:
        texts = tf.strings.regex_replace(texts, pattern, replacement)
    return texts


def _compose_accents(texts):
    """Letter + combining accent -> the accented letter, for the letters of `_ACCENTED`."""
    for decomposed, composed in _DECOMPOSED.items():
        texts = tf.strings.regex_replace(texts, re.escape(decomposed), composed)
    return texts


def reattach_marks(texts):
    """Detokenized strings with the spaces `normalize` put around ¿, ¡ and dashes removed."""
    for pattern, replacement in _REATTACH:
        texts = tf.strings.regex_replace(texts, pattern, replacement)
    return texts


def tokenize(texts: list[str], lowercase: bool) -> list[list[str]]:
    """Python token lists made by the ops the export runs (normalize, standardize, split)."""
    if not texts:
        return []
    standardized = text.standardize(normalize(tf.constant(texts, dtype=tf.string)), "word", lowercase)
    return [[token.decode("utf-8") for token in row] for row in text.split(standardized).to_list()]


# ---------------------------------------------------------------- corpora


@dataclasses.dataclass
class Corpus:
    """Every pair of a source; `groups` (Bible books) decide a split by book; `fixed` holds
    parts that come with the source (a test or validation file): part -> (sources, targets)."""

    sources: list[str]
    targets: list[str]
    description: str
    summary: dict
    groups: list[str] | None = None
    fixed: dict = dataclasses.field(default_factory=dict)


_NOTE = re.compile(r"<note\b.*?</note>|<title\b.*?</title>", re.S)
_TAG = re.compile(r"<[^>]*>")
# Tags between two letters stand between two words: "llamado</w><transChange>á ser".
_TAGS_BETWEEN_LETTERS = re.compile(r"(?<=\w)(?:<[^>]*>)+(?=\w)")
_SPACE_BEFORE_MARK = re.compile(r"\s+([,.;:!?)\]])")


def clean_verse(markup: str) -> str:
    """Plain verse text from OSIS markup: notes and titles dropped (a note between two words
    leaves a space), tags such as <w lemma="strong:H0430"> removed with their Strong's numbers
    (tags between two letters leave a space)."""
    plain = _TAG.sub("", _TAGS_BETWEEN_LETTERS.sub(" ", _NOTE.sub(" ", markup)))
    plain = " ".join(html.unescape(plain).split())
    return _SPACE_BEFORE_MARK.sub(r"\1", plain)


def read_sword_module(root, module: str) -> dict[tuple[str, int, int], str]:
    """(book, chapter, verse) -> cleaned text of every verse of a SWORD Bible module."""
    from pysword.modules import SwordModules

    library = SwordModules(str(root / "usr" / "share" / "sword"))
    library.parse_modules()
    bible = library.get_bible_from_module(module)
    # pysword decompresses a whole book block for every verse it reads; keeping the last
    # block makes reading a Bible take a second instead of minutes.
    bible._decompressed_text = functools.lru_cache(maxsize=2)(bible._decompressed_text)
    verses = {}
    for books in bible.get_structure().get_books().values():
        for book in books:
            for chapter in range(1, book.num_chapters + 1):
                texts = bible.get_iter(books=[book.osis_name], chapters=[chapter], clean=False)
                for verse, markup in enumerate(texts, start=1):
                    verses[(book.osis_name, chapter, verse)] = clean_verse(markup)
    return verses


def align_verses(english: dict, spanish: dict) -> tuple[list, dict]:
    """Pairs of (key, English, Spanish) present and non-empty in both, and counts of the rest
    by reason."""
    both_books = {key[0] for key in english} & {key[0] for key in spanish}
    keys = sorted(set(english) | set(spanish), key=lambda key: (key[0] not in both_books, key))
    pairs, dropped = [], {"book_in_one_module_only": 0, "versification_mismatch": 0, "empty_side": 0}
    for key in keys:
        if key[0] not in both_books:
            dropped["book_in_one_module_only"] += 1
        elif key not in english or key not in spanish:
            dropped["versification_mismatch"] += 1
        elif not english[key] or not spanish[key]:
            dropped["empty_side"] += 1
        else:
            pairs.append((key, english[key], spanish[key]))
    return pairs, dropped


def read_bible(download=sources.apt_download) -> Corpus:
    """The World English Bible and the Reina-Valera 1909 aligned by book, chapter and verse."""
    english, spanish = (
        read_sword_module(sources.extract_debian(package, download=download), module)
        for package, module in BIBLE_MODULES
    )
    pairs, dropped = align_verses(english, spanish)
    summary = {"verses_aligned": len(pairs), **{f"verses_dropped_{reason}": n for reason, n in dropped.items()}}
    return Corpus(
        sources=[english_text for _, english_text, _ in pairs],
        targets=[spanish_text for _, _, spanish_text in pairs],
        description="World English Bible -> Reina-Valera 1909 (Debian sword-text-web 426.0-1, sword-text-sparv 2.60-1)",
        summary=summary,
        groups=[key[0] for key, _, _ in pairs],
    )


def read_pairs_file(path, reverse: bool = False, skip_bad_lines: bool = True) -> tuple[list[str], list[str]]:
    """(sources, targets) from a TSV of source<TAB>target lines (target<TAB>source with
    `reverse`); columns after the second (such as Tatoeba's attribution) are ignored. A line
    without a tab or with an empty side is skipped and counted (with the first one named),
    or is an error when `skip_bad_lines` is false. Blank lines are ignored."""
    pairs, bad, first_bad = [], 0, None
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        problem = "no tab between source and target" if len(columns) < 2 else ""
        if not problem and not (columns[0].strip() and columns[1].strip()):
            problem = "an empty side"
        if problem:
            if not skip_bad_lines:
                raise UserError(f"{path}, line {number}: {problem} (or set skip_bad_lines=true to skip such lines)")
            bad, first_bad = bad + 1, first_bad or f"line {number}: {problem}"
            continue
        first, second = columns[0].strip(), columns[1].strip()
        pairs.append((second, first) if reverse else (first, second))
    if bad:
        print(f"{path}: skipped {bad} bad line(s), the first at {first_bad}", file=sys.stderr)
    if not pairs:
        raise UserError(f"{path}: no source<TAB>target pairs in the file")
    return [source for source, _ in pairs], [target for _, target in pairs]


def read_tfds(name: str) -> Corpus:
    """ted_hrlr_translate/pt_to_en through tensorflow-datasets (needs network or its cache);
    its own validation and test splits are kept."""
    source_key, target_key = TFDS_DATASETS[name]
    parts, _ = sources.load_tfds(name, ["train", "validation", "test"])

    def unpack(rows):
        return [row[source_key].decode("utf-8") for row in rows], [row[target_key].decode("utf-8") for row in rows]

    train, validation, test = (unpack(rows) for rows in parts)
    return Corpus(*train, f"tensorflow-datasets {name}", {}, fixed={"validation": validation, "test": test})


def load_corpus(config: Config) -> Corpus:
    """The source named by `config.dataset`, with `validation_file` / `test_file` if given."""
    source = sources.resolve_dataset(config.dataset, "translation", BUILTIN_DATASETS, TFDS_DATASETS, USER_FILES)
    if source.kind == "builtin":
        corpus = read_bible()
    elif source.kind == "tfds":
        corpus = read_tfds(source.name)
    else:
        corpus = Corpus(*read_pairs_file(source.name, config.reverse, config.skip_bad_lines), source.name, {})
    for part, path in (("validation", config.validation_file), ("test", config.test_file)):
        if path:
            corpus.fixed[part] = read_pairs_file(path, config.reverse, config.skip_bad_lines)
    return corpus


# ---------------------------------------------------------------- splits and vocabularies


@dataclasses.dataclass
class Assets:
    """What a run keeps to export again: both vocabularies (the target's begins with the
    start and end markers) and the longest training source, in words."""

    source_vocabulary: list[str]
    target_vocabulary: list[str]
    longest_training_source: int


@dataclasses.dataclass
class Data(TaskData):
    """Raw (source, target) strings of each part; references are the raw targets."""

    pairs: dict[str, tuple[list[str], list[str]]] = dataclasses.field(default_factory=dict)


def short_enough(sources_: list[str], targets: list[str], config: Config) -> np.ndarray:
    """Indices of the pairs with at most `max_length` words on both sides."""
    lengths = [[len(tokens) for tokens in tokenize(side, config.lowercase)] for side in (sources_, targets)]
    return np.flatnonzero((np.array(lengths[0]) <= config.max_length) & (np.array(lengths[1]) <= config.max_length))


def make_data(config: Config, corpus: Corpus) -> Data:
    """Filter by length, split (held-out books listed in the summary), and build the
    vocabularies from the training part only (with `embedding_vocabulary=train+vectors`,
    the source's also takes the validation sources' words that have a pretrained vector)."""
    kept = short_enough(corpus.sources, corpus.targets, config)
    shares = {
        part: share
        for part, share in (("validation", config.validation_share), ("test", config.test_share))
        if part not in corpus.fixed and share > 0
    }
    summary = dict(corpus.summary, source=corpus.description, max_words_per_side=config.max_length)
    summary["pairs_dropped_too_long"] = len(corpus.sources) - len(kept)
    if corpus.groups and config.split == "book":
        rows, held = splits.group_split([corpus.groups[i] for i in kept], shares, config.data_split_seed)
        summary.update({f"{part}_books": names for part, names in held.items()})
    else:
        rows = {
            part: np.sort(indices)
            for part, indices in splits.random_split(len(kept), shares, config.data_split_seed).items()
        }
    pairs = {
        part: ([corpus.sources[kept[i]] for i in indices], [corpus.targets[kept[i]] for i in indices])
        for part, indices in rows.items()
    }
    for part, (part_sources, part_targets) in corpus.fixed.items():
        fixed_kept = short_enough(part_sources, part_targets, config)
        summary[f"{part}_file_pairs_dropped_too_long"] = len(part_sources) - len(fixed_kept)
        pairs[part] = ([part_sources[i] for i in fixed_kept], [part_targets[i] for i in fixed_kept])
    for part in ("train", "validation", "test"):
        if not pairs.get(part, ([],))[0]:
            raise UserError(
                f"{corpus.description}: no {part} pairs of at most {config.max_length} words "
                "(raise max_length, or give more data)"
            )
    source_tokens = tokenize(pairs["train"][0], config.lowercase)
    target_tokens = tokenize(pairs["train"][1], config.lowercase)
    source_vocabulary = text.build_vocabulary(source_tokens, config.max_vocabulary, config.min_frequency)
    if config.embedding_vocabulary != "train":  # validation sources with a vector; never a target, never test text
        validation_tokens = tokenize(pairs["validation"][0], config.lowercase)
        source_vocabulary = widen_vocabulary(source_vocabulary, validation_tokens, config)
    assets = Assets(
        source_vocabulary=source_vocabulary,
        target_vocabulary=text.build_vocabulary(
            target_tokens, config.max_vocabulary, config.min_frequency, reserved=(text.START_TOKEN, text.END_TOKEN)
        ),
        longest_training_source=max(len(tokens) for tokens in source_tokens),
    )
    summary.update({f"{part}_pairs": len(part_pairs[0]) for part, part_pairs in pairs.items()})
    summary.update(source_vocabulary=len(assets.source_vocabulary), target_vocabulary=len(assets.target_vocabulary))
    split = {part: [int(kept[i]) for i in indices] for part, indices in rows.items()}
    return Data(assets=assets, summary=summary, splits=split, train_examples=len(pairs["train"][0]), pairs=pairs)


def load_data(config: Config) -> Data:
    """Train / validation / test pairs for one run."""
    return make_data(config, load_corpus(config))


# ---------------------------------------------------------------- encoders and pipelines


def make_source_encoder(config: Config, vocabulary) -> text.TextEncoder:
    """Normalized source strings -> right-padded ids; an empty text is one unknown word (a
    fully masked row would crash cuDNN); cut at `SERVE_MAX_SOURCE_TOKENS` words."""
    return text.TextEncoder(vocabulary, "word", config.lowercase, SERVE_MAX_SOURCE_TOKENS, name="source_encoder")


def make_target_encoder(config: Config, vocabulary) -> text.TextEncoder:
    """Normalized target strings -> [START] ids [END], right-padded."""
    return text.TextEncoder(
        vocabulary, "word", config.lowercase, add_start=True, add_end=True, allow_empty=True, name="target_encoder"
    )


def encode_pairs(config: Config, assets: Assets, sources_: list[str], targets: list[str]):
    """Ragged source ids and ragged [START] target ids [END] for raw pairs."""
    source_encoder = make_source_encoder(config, assets.source_vocabulary)
    target_encoder = make_target_encoder(config, assets.target_vocabulary)
    source_ids = source_encoder.ragged_ids(normalize(tf.constant(sources_, dtype=tf.string)))
    target_ids = target_encoder.ragged_ids(normalize(tf.constant(targets, dtype=tf.string)))
    return tf.cast(source_ids, tf.int32), tf.cast(target_ids, tf.int32)


def teacher_forcing(source, target):
    """A batch of (source, [START] w1 .. wn [END]) -> ((source, [START] w1 .. wn), w1 .. wn [END]):
    the decoder reads the target shifted right and learns to write the next word."""
    return (source, target[:, :-1]), target[:, 1:]


def target_length(source, target):
    return tf.shape(target)[0]


def pair_dataset(source_ids, target_ids, batch_size: int, shuffle=False, seed=0, input_context=None):
    """((source, target input), target output) batches, right-padded, grouped by target
    length: the decoder reads [START] w1 .. wn and learns to write w1 .. wn [END]."""
    return pipeline.bucketed_batches(
        (source_ids, target_ids),
        target_ids.row_lengths().numpy(),
        batch_size,
        shuffle=shuffle,
        seed=seed,
        input_context=input_context,
        length_of=target_length,
        finish=teacher_forcing,
    )


def make_datasets(config: Config, data: Data, global_batch_size: int, input_context=None) -> dict:
    """Bucketed, right-padded batches of each part for teacher-forced training."""
    batch_size = per_replica_batch(global_batch_size, input_context)
    datasets = {}
    for part, (part_sources, part_targets) in data.pairs.items():
        source_ids, target_ids = encode_pairs(config, data.assets, part_sources, part_targets)
        datasets[part] = pair_dataset(source_ids, target_ids, batch_size, part == "train", config.seed, input_context)
    return datasets
