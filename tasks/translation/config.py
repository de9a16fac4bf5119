"""Translation options: the shared groups plus the task's own fields.

The defaults are sized for `make train TASK=translation` on two CPU cores in about half
an hour (docs/findings/translation.md, "Choosing the defaults"): Bible verses of at most
50 words on each side (29,228 of the 31,077 aligned verses, 94%), vocabularies of
up to 8,000 words seen at least twice, a one-layer bidirectional LSTM encoder of 128
units per direction and a 256-unit LSTM decoder with cross attention
(docs/findings/translation.md, "Why the old default plateaued"), beam search of width 5.
"""

import dataclasses
from typing import ClassVar

from common.cells import NO_RECURRENCE, RECURRENT_CELLS, TCN
from common.config import (
    BidirectionalOption,
    EmbeddingOptions,
    RecurrentOptions,
    TextOptions,
    TrainConfig,
    option,
)
from common.errors import UserError

BUILTIN_DATASETS = ("bible_en_es",)
TFDS_DATASETS = {"ted_hrlr_translate/pt_to_en": ("pt", "en")}  # name -> (source, target) features
DATASETS = (*BUILTIN_DATASETS, *TFDS_DATASETS)
USER_FILES = "a TSV file of source<TAB>target pairs"
ATTENTIONS = ("none", "additive", "multiplicative", "scaled", "cross")
SPLITS = ("book", "random")
# Serving caps: longer sources are cut, longer outputs stop
# (tasks/translation/README.md, "Model and the options that matter").
SERVE_MAX_SOURCE_TOKENS = 200
SERVE_MAX_OUTPUT_TOKENS = 300


@dataclasses.dataclass
class Config(EmbeddingOptions, TextOptions, BidirectionalOption, RecurrentOptions, TrainConfig):
    _WORDS_ONLY = (
        "translation is word level only: subword (sentencepiece) tokenization in the graph needs "
        "tensorflow-text, and the export must load with plain TensorFlow (see tasks/translation/README.md)"
    )
    REFUSED_OPTIONS: ClassVar[dict[str, str]] = {"tokenizer": _WORDS_ONLY, "subword": _WORDS_ONLY}
    # Options added after runs of the 50-word default existed: at their defaults they train
    # exactly what those runs did, so those runs keep their ids (common.runs.added_option_defaults).
    ADDED_OPTIONS: ClassVar[tuple[str, ...]] = ("label_smoothing", "warmup_steps", "input_feeding")

    # The data and how it is cut.
    dataset: str = option("bible_en_es", f"{', '.join(DATASETS)}, or {USER_FILES}")
    validation_file: str = option("", "optional separate validation file (TSV pairs, like dataset)")
    reverse: bool = option(False, "swap the columns of a TSV file: target<TAB>source")
    skip_bad_lines: bool = option(True, "TSV lines without a tab or with an empty side: skip and count (false: error)")
    split: str = option("book", "bible_en_es: hold out whole books (book) or random verses (random)")

    # Words: the budget of two CPU cores decides these (docs/findings/translation.md, "Choosing the defaults").
    max_length: int = option(50, "pairs with more words than this on either side are left out (all parts)")
    max_vocabulary: int = option(8000, "vocabulary size per language, padding, unknown, start and end included")
    min_frequency: int = option(2, "training words seen fewer times become [UNK]")
    embedding_dim: int = option(128, "word embedding size, each language (the source's: the vectors' own)")
    embeddings: str = option(
        "", "source words' vectors: glove-6b-50d (English, built in) or a word2vec/GloVe file (target: from scratch)"
    )

    # The encoder-decoder.
    cell: str = option("lstm", "encoder cell: simple_rnn, gru, lstm, peephole_lstm, leaky_rnn or tcn")
    decoder_cell: str = option(
        "", "decoder cell: simple_rnn, gru, lstm, peephole_lstm or leaky_rnn (empty: the encoder's; tcn needs one)"
    )
    units: int = option(128, "encoder units per layer and direction")
    decoder_units: int = option(256, "decoder units (the bridge maps the encoder's states to this width)")
    num_layers: int = option(1, "stacked encoder layers")
    attention: str = option(
        "cross",
        f"{', '.join(ATTENTIONS)} attention over the source "
        "(multiplicative: Luong general; scaled: that / sqrt(decoder_units); cross: projected query, keys and "
        "values, scaled, added to the decoder's output under layer norm)",
    )
    input_feeding: bool = option(
        False,
        "Luong's input feeding: each step's attentional vector joins the next word's input "
        "(the decoder then runs step by step, without cuDNN)",
    )
    dropout: float = option(0.2, "dropout on embeddings and on the decoder's output")

    # Decoding, in the export and for the test scores.
    beam_width: int = option(5, "beam width of the export and the test scores (1: greedy)")
    length_penalty: float = option(0.6, "GNMT length penalty alpha for beam search (0: none)")
    max_output_ratio: float = option(1.5, "decoding stops after ratio * longest source words + 5 target words")
    evaluate_limit: int = option(0, "decode at most this many test pairs for the scores (0: all)")

    # Training: at 2e-3 the loss stalled at 5.66 for four epochs; at 1e-3 the validation
    # loss fell from 5.25 to 4.21 in the same four (defaults otherwise, validation split).
    learning_rate: float = option(1e-3, "Adam learning rate")
    batch_size: int = option(32, "sentence pairs per batch and replica")
    epochs: int = option(20, "maximum training epochs (early stopping on validation loss may end sooner)")
    patience: int = option(3, "early stopping: epochs without a lower validation loss")
    label_smoothing: float = option(
        0.0, "share of each target word's probability spread evenly over the vocabulary in the loss (0: none)"
    )
    warmup_steps: int = option(0, "the learning rate rises linearly from 0 over this many updates (0: none)")

    def validate(self):
        super().validate()
        if self.cell == NO_RECURRENCE:
            raise UserError(
                f"cell=none: an encoder-decoder needs a recurrent cell ({', '.join(RECURRENT_CELLS)}) or tcn"
            )
        if self.decoder_cell:
            self.check_choice("decoder_cell", RECURRENT_CELLS)
        if self.target_cell == TCN:
            # A TCN encoder's last real step is bridged as an h would be; a decoder needs a
            # state to carry from word to word, which a TCN does not have.
            raise UserError("cell=tcn encodes only: the decoder runs word by word from a state; set decoder_cell=lstm")
        self.check_choice("attention", ATTENTIONS)
        if self.input_feeding and self.attention == "none":
            raise UserError("input_feeding=true feeds the attentional vector back: choose an attention other than none")
        self.check_choice("split", SPLITS)
        if self.beam_width < 1:
            raise UserError(f"beam_width={self.beam_width}: must be at least 1 (1 is greedy decoding)")
        if self.decoder_units < 1 or self.embedding_dim < 1:
            raise UserError("decoder_units and embedding_dim must be at least 1")
        if not 0 <= self.label_smoothing < 1 or self.warmup_steps < 0:
            raise UserError(
                f"label_smoothing={self.label_smoothing}, warmup_steps={self.warmup_steps}: "
                "label_smoothing must be in [0, 1) and warmup_steps at least 0"
            )
        if self.max_output_ratio <= 0 or self.length_penalty < 0 or self.evaluate_limit < 0:
            raise UserError("max_output_ratio must be > 0, length_penalty and evaluate_limit >= 0")

    @property
    def target_cell(self) -> str:
        """The decoder's cell type."""
        return self.decoder_cell or self.cell
