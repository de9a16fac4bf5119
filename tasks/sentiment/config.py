"""Sentiment options: the shared groups plus the task's own fields."""

import dataclasses

from common import text
from common.cells import POOLINGS
from common.config import BidirectionalOption, EmbeddingOptions, RecurrentOptions, TextOptions, TrainConfig, option

TFDS_DATASETS = {"imdb_reviews": "text", "glue/sst2": "sentence"}  # name -> text feature
BUILTIN_DATASETS = ("mr",)
DATASETS = (*BUILTIN_DATASETS, *TFDS_DATASETS)
USER_FILES = "a CSV/TSV/JSONL file of your own"
PIPELINES = ("bucketed", "prepadded")
SELECT_BY = ("loss", "accuracy")


@dataclasses.dataclass
class Config(EmbeddingOptions, TextOptions, BidirectionalOption, RecurrentOptions, TrainConfig):
    dataset: str = option("mr", f"{', '.join(DATASETS)}, or {USER_FILES}")
    # MR overfits within an epoch at Adam's usual 1e-3; half that rate with more dropout
    # peaks later and steadier on validation (docs/findings/sentiment.md, "Choosing the defaults").
    learning_rate: float = option(5e-4, "Adam learning rate")
    dropout: float = option(0.6, "dropout on embeddings and on the sentence vector")
    max_length: int = option(200, "tokens kept per text; longer texts are truncated, also when serving")
    text_column: str = option("text", "column holding the text, in your own file")
    label_column: str = option("label", "column holding the label (any strings), in your own file")
    tokenizer: str = option("word", "word or char tokens")
    pooling: str = option("last", f"sentence vector: {', '.join(POOLINGS)} (last state, or over every step)")
    select_by: str = option("loss", "validation measure that picks the best epoch and stops early: loss or accuracy")
    folds: int = option(0, "k > 1: k-fold cross-validation (metrics only, no export)")
    pipeline: str = option("bucketed", "bucketed (right-padded, masked) or prepadded (the common way, for comparison)")

    def validate(self):
        super().validate()
        self.check_choice("tokenizer", text.LEVELS)
        self.check_choice("pooling", POOLINGS)
        self.check_choice("pipeline", PIPELINES)
        self.check_choice("select_by", SELECT_BY)
