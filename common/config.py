"""Training configuration: stdlib dataclasses with checked `key=value` overrides.

Every task's `Config` combines `TrainConfig` with the option groups it needs
(`RecurrentOptions`, `BidirectionalOption`, `TextOptions`, `EmbeddingOptions`) and adds
only the fields that are its own, next to the code that reads them. A task may restate
a shared field to change its default. Overrides come from the command line
(`ARGS="units=128 epochs=5"`), are checked against the fields and their types, and an
unknown key is an error that lists the valid ones. `validate()` runs every group's
checks (each group calls `super().validate()`, so the groups combine in any order).
"""

import dataclasses
import json
import typing

from common.errors import UserError

VERBOSITY = ("auto", "0", "1", "2")


def option(default, help: str):
    """A dataclass field with a default and a one-line help text for `--help`."""
    return dataclasses.field(default=default, metadata={"help": help})


class Options:
    """Root of every option group: the end of the `validate()` chain."""

    def validate(self) -> None:
        """Raise `UserError` naming the first option with a value that cannot work."""

    def check_choice(self, name: str, choices) -> None:
        """A one-line error unless option `name` is one of `choices`."""
        value = getattr(self, name)
        if value not in choices:
            raise UserError(f"{name}={value!r}: choose one of {', '.join(choices)}")


@dataclasses.dataclass
class TrainConfig(Options):
    """Options every task shares. Tasks add their own in a subclass."""

    dataset: str = option("", "built-in dataset name, tfds:<name>, or a path to your own file")
    test_file: str = option("", "optional separate test file (same format as dataset)")
    seed: int = option(42, "random seed for splits, initialisation and shuffling")
    split_seed: int = option(0, "seed of the random data split only (0: seed); compare holds it fixed across seeds")
    epochs: int = option(10, "maximum training epochs (early stopping may end sooner)")
    batch_size: int = option(32, "batch size per replica (the global batch grows with GPUs)")
    learning_rate: float = option(1e-3, "Adam learning rate")
    clipnorm: float = option(1.0, "gradient clipping by global norm; 0 turns it off")
    patience: int = option(3, "early stopping: epochs without validation improvement")
    mixed_precision: bool = option(False, "mixed_float16 compute (GPU); output layer stays float32")
    validation_share: float = option(0.1, "share of the data held out for validation")
    test_share: float = option(0.1, "share of the data held out for test (no test_file)")
    run_name: str = option("", "name of the run folder (default: time, cell, config hash)")
    verbose: str = option("auto", "progress: auto (bar on a terminal, a line per epoch in a log), 0, 1 or 2")
    wait: bool = option(False, "if another process is training this same run, wait for it instead of stopping")
    deterministic: bool = option(
        True, "TensorFlow op determinism: the same command gives the same result (false: faster, drifts by run)"
    )
    startup_timeout: float = option(600.0, "several workers: seconds the chief waits for the others to come up")

    @property
    def data_split_seed(self) -> int:
        """The seed that draws the random train/validation/test split."""
        return self.split_seed or self.seed

    def validate(self):
        super().validate()
        self.check_choice("verbose", VERBOSITY)
        if min(self.epochs, self.batch_size) < 1:
            raise UserError("epochs and batch_size must be at least 1")
        if not 0 <= self.validation_share < 1 or not 0 <= self.test_share < 1:
            raise UserError("validation_share and test_share must be in [0, 1)")
        if self.startup_timeout <= 0:
            raise UserError("startup_timeout must be a positive number of seconds")


@dataclasses.dataclass
class RecurrentOptions(Options):
    """The recurrent stack: which cell, how many layers, how wide, how much dropout."""

    cell: str = option(
        "lstm",
        "recurrent cell: simple_rnn, gru, lstm, peephole_lstm, leaky_rnn; or tcn (temporal convolutions) or none "
        "(per-token dense layers), the non-recurrent baselines",
    )
    num_layers: int = option(1, "stacked recurrent layers")
    units: int = option(64, "units per recurrent layer (per direction)")
    dropout: float = option(0.5, "dropout on the inputs and outputs of the recurrent stack")

    def validate(self):
        super().validate()
        from common.cells import check_cell  # cells imports keras; configs stay light to import

        check_cell(self.cell)
        if self.num_layers < 1 or self.units < 1:
            raise UserError("num_layers and units must be at least 1")
        if not 0 <= self.dropout < 1:
            raise UserError("dropout must be in [0, 1)")


@dataclasses.dataclass
class BidirectionalOption(Options):
    """For tasks that see the whole input before answering (not forecasters, not language models)."""

    bidirectional: bool = option(True, "read the sequence in both directions")


@dataclasses.dataclass
class TextOptions(Options):
    """How text becomes token ids: case, vocabulary size and cut-off, length."""

    lowercase: bool = option(True, "lower-case text before the vocabulary lookup")
    max_vocabulary: int = option(20000, "vocabulary size, padding and unknown included")
    min_frequency: int = option(1, "drop training tokens seen fewer times than this")
    max_length: int = option(200, "tokens kept per text in training")

    def validate(self):
        super().validate()
        if self.max_length < 1 or self.max_vocabulary < 3 or self.min_frequency < 1:
            raise UserError("max_length and min_frequency must be at least 1, max_vocabulary at least 3")


EMBEDDING_VOCABULARIES = ("train", "train+vectors")


@dataclasses.dataclass
class EmbeddingOptions(Options):
    """Token embeddings: trained from scratch, or started from pretrained vectors."""

    embedding_dim: int = option(128, "embedding size (taken from the vectors when embeddings= is set)")
    embeddings: str = option(
        "", "pretrained vectors to start from: glove-6b-50d (built in), or a word2vec/GloVe text file or word2vec .bin"
    )
    freeze_embeddings: bool = option(False, "keep pretrained embeddings fixed throughout")
    frozen_epochs: int = option(0, "pretrained embeddings: epochs held fixed before fine-tuning (0: fine-tune at once)")
    embedding_vocabulary: str = option(
        "train", "train (training words), or train+vectors (plus validation-text words that have a pretrained vector)"
    )

    def validate(self):
        super().validate()
        if self.embedding_dim < 1 or self.frozen_epochs < 0:
            raise UserError("embedding_dim must be at least 1 and frozen_epochs at least 0")
        self.check_choice("embedding_vocabulary", EMBEDDING_VOCABULARIES)
        if self.embedding_vocabulary != "train" and not self.embeddings:
            raise UserError(
                "embedding_vocabulary=train+vectors needs pretrained vectors (embeddings=glove-6b-50d, a file)"
            )
        if self.freeze_embeddings and self.frozen_epochs:
            raise UserError(
                "freeze_embeddings keeps the vectors fixed throughout; frozen_epochs is for fine-tuning after"
            )


def field_help(config_class) -> list[tuple[str, str, object, str]]:
    """(name, type name, default, help) for every field, in declaration order."""
    hints = typing.get_type_hints(config_class)
    rows = []
    for field in dataclasses.fields(config_class):
        rows.append((field.name, hints[field.name].__name__, field.default, field.metadata.get("help", "")))
    return rows


def _parse_value(name: str, text: str, kind: type):
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UserError(f"option {name}={text!r}: expected true or false")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise UserError(f"option {name}={text!r}: expected {kind.__name__}") from None
    return text


def apply_overrides(config, overrides: list[str]):
    """Return a copy of `config` with `key=value` strings applied, each checked.

    A config class may refuse options it deliberately lacks with a reason: a class
    attribute `REFUSED_OPTIONS = {name: reason}` (a `typing.ClassVar`, not a field)."""
    hints = typing.get_type_hints(type(config))
    valid = [field.name for field in dataclasses.fields(config)]
    changes = {}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"option {item!r} is not key=value (valid keys: {', '.join(valid)})")
        name, text = item.split("=", 1)
        name = name.strip()
        refused = getattr(type(config), "REFUSED_OPTIONS", {})
        if name in refused and name not in valid:
            raise UserError(f"option {name!r} is refused for this task: {refused[name]}")
        if name not in valid:
            raise UserError(f"unknown option {name!r} for {type(config).__name__}; valid: {', '.join(valid)}")
        changes[name] = _parse_value(name, text, hints[name])
    updated = dataclasses.replace(config, **changes)
    updated.validate()
    return updated


def save_config(config, path) -> None:
    """Write the resolved config as JSON (sorted keys, so runs diff cleanly), atomically:
    a crash never leaves half of it for the resume to read."""
    from common.files import write_text_atomically

    write_text_atomically(path, json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True))


def load_config(config_class, path):
    """Read a config written by `save_config`, ignoring keys the class no longer has."""
    with open(path, encoding="utf-8") as handle:
        values = json.load(handle)
    names = {field.name for field in dataclasses.fields(config_class)}
    return config_class(**{key: value for key, value in values.items() if key in names})
