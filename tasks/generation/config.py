"""Language-model options: the shared groups plus the task's own fields.

Several defaults depend on the dataset (level, batching, bptt, steps per epoch); a value
left at 0 or "" is filled in by `resolve_defaults` from `DATASET_DEFAULTS`.
"""

import dataclasses
from typing import ClassVar

from common import text
from common.config import EmbeddingOptions, RecurrentOptions, TextOptions, TrainConfig, option
from common.errors import UserError

TFDS_DATASETS = ("tiny_shakespeare",)
BUILTIN_DATASETS = ("shakespeare", "ptb")
DATASETS = (*BUILTIN_DATASETS, *TFDS_DATASETS)
USER_FILES = "a UTF-8 text file of your own"
BATCHINGS = ("random", "sequential")
OPTIMIZERS = ("adam", "sgd")

# The longest continuation one request may ask for (a guard against runaway requests).
MAX_GENERATION_LENGTH = 2000

DATASET_DEFAULTS = {
    # Sequential TBPTT measured better than random windows at the same budget on Shakespeare;
    # 5 whole passes (about 730 batches of 64 x 100 characters each) keep `make train` within
    # about 15 minutes on 2 shared CPU cores.
    "shakespeare": {"tokenizer": "char", "batching": "sequential", "bptt": 100},
    "tiny_shakespeare": {"tokenizer": "char", "batching": "sequential", "bptt": 100},
    # Sequential TBPTT over the whole text each epoch, as published PTB results train.
    "ptb": {"tokenizer": "token", "batching": "sequential", "bptt": 20, "steps_per_epoch": 0},
}
# Your own text: random windows train on any length of text (sequential needs batch_size x bptt).
FILE_DEFAULTS = {"tokenizer": "char", "batching": "random", "bptt": 100, "steps_per_epoch": 0}


@dataclasses.dataclass
class Config(EmbeddingOptions, TextOptions, RecurrentOptions, TrainConfig):
    """No `bidirectional` option: a language model must never read the tokens it predicts."""

    REFUSED_OPTIONS: ClassVar[dict[str, str]] = {
        "bidirectional": "a language model predicts each token from the ones before it; a backward pass reads the "
        "future it should predict",
    }

    dataset: str = option("shakespeare", f"{', '.join(DATASETS)}, or {USER_FILES}")
    validation_file: str = option("", "optional separate validation text (else a contiguous block of dataset)")
    tokenizer: str = option(
        "", "char, word (punctuation split off) or token (split at spaces only); '': char, token for ptb"
    )
    lowercase: bool = option(False, "lower-case text first (PTB is lower case already)")
    batching: str = option(
        "",
        "random (windows at random offsets) or sequential (TBPTT, state carried); '': sequential for the built-in "
        "sets, random for your own text",
    )
    bptt: int = option(0, "tokens per training window, backpropagation depth (0: 100, 20 for ptb)")
    steps_per_epoch: int = option(0, "batching=random: batches per epoch (0: one pass worth of tokens)")
    units: int = option(256, "units per recurrent layer")
    num_layers: int = option(1, "stacked recurrent layers")
    embedding_dim: int = option(64, "embedding size (equal to units when tie_embeddings)")
    dropout: float = option(0.1, "dropout on the embeddings, between layers and on the output (never recurrent)")
    tie_embeddings: bool = option(
        False, "the output layer reuses the input embedding matrix (needs embedding_dim=units)"
    )
    batch_size: int = option(64, "sequences per batch (rows of the stream with sequential batching)")
    learning_rate: float = option(2e-3, "learning rate (Adam; SGD with optimizer=sgd)")
    optimizer: str = option("adam", "adam, or sgd with lr_decay (the schedule of Zaremba et al. 2014)")
    lr_decay: float = option(1.0, "optimizer=sgd: multiply the learning rate by this each epoch after decay_after")
    decay_after: int = option(0, "optimizer=sgd: epochs at the full learning rate before lr_decay starts")
    epochs: int = option(
        5, "maximum training epochs, a whole pass each with sequential batching (early stopping may end sooner)"
    )
    patience: int = option(3, "early stopping: epochs without a lower exact validation perplexity")
    max_vocabulary: int = option(20000, "vocabulary size, padding, unknown and markers included")
    baseline_k: str = option("1,0.1,0.01,0.001", "add-k values tried for the n-gram baselines (best on validation)")
    ngram_max_order: int = option(8, "highest order of the Witten-Bell n-gram baseline (order best on validation)")

    def validate(self):
        super().validate()
        self.check_choice("tokenizer", ("", *text.ALL_LEVELS))
        self.check_choice("batching", ("", *BATCHINGS))
        self.check_choice("optimizer", OPTIMIZERS)
        if not 1 <= self.ngram_max_order <= 12:
            raise UserError(f"ngram_max_order={self.ngram_max_order}: choose 1 to 12")
        if self.bptt < 0 or self.steps_per_epoch < 0 or self.decay_after < 0:
            raise UserError("bptt, steps_per_epoch and decay_after must be at least 0")
        if self.batching == "sequential" and self.steps_per_epoch:
            raise UserError(
                "steps_per_epoch is for batching=random; sequential batching reads the whole text each epoch"
            )
        if self.tie_embeddings and self.embedding_dim != self.units and self.cell != "none":
            raise UserError(f"tie_embeddings needs embedding_dim ({self.embedding_dim}) equal to units ({self.units})")
        if self.embeddings and (self.tokenizer == "char" or self.tie_embeddings):
            raise UserError("pretrained embeddings= are word vectors: need tokenizer=word or token, no tie_embeddings")
        if not 0 < self.lr_decay <= 1:
            raise UserError("lr_decay must be in (0, 1]")
        baseline_values(self)


def baseline_values(config: Config) -> list[float]:
    """The add-k values of `baseline_k`, each > 0; anything else is a one-line error."""
    try:
        values = [float(part) for part in config.baseline_k.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise UserError(f"baseline_k={config.baseline_k!r}: expected positive numbers separated by commas")
    return values


def resolve_defaults(config: Config) -> Config:
    """The config with the dataset's defaults filled in where it says 0 or ""."""
    defaults = DATASET_DEFAULTS.get(config.dataset.removeprefix("tfds:"), FILE_DEFAULTS)
    changes = {key: value for key, value in defaults.items() if not getattr(config, key)}
    if config.batching == "sequential":
        changes.pop("steps_per_epoch", None)  # a whole pass per epoch, whatever the dataset
    return dataclasses.replace(config, **changes)
