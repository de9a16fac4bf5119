"""Translation export: English strings in, Spanish strings out, beam search in the graph;
a signature with the decoding settings as inputs; one with the attention weights; and the
command line's codec.

TensorFlow signatures have no optional inputs (TF Serving requires every input of a
signature), so `serving_default` takes only `text` and decodes with the run's beam width;
`translate` takes `text`, `beam_width` and `max_length` (0: relative to the source).
"""

import tensorflow as tf

from common import text
from common.export import answer_texts
from common.task import Signature
from tasks.translation.config import SERVE_MAX_OUTPUT_TOKENS, Config
from tasks.translation.data import Assets, make_source_encoder, normalize, reattach_marks
from tasks.translation.model import Seq2Seq, attention_map, output_limit, translate_ids

MAX_BEAM_WIDTH = 64
MAX_WORK = 1 << 20  # rows x beam_width x output words: bounds beam search's memory and time


def translate_limits() -> dict:
    """What one `translate` request may ask (see common.limits): beam_width in [1,
    MAX_BEAM_WIDTH], max_length in [0, SERVE_MAX_OUTPUT_TOKENS] (0 counts as the cap), and
    rows x beam x length at most MAX_WORK."""
    return {
        "settings": {
            "beam_width": {"min": 1, "max": MAX_BEAM_WIDTH},
            "max_length": {"min": 0, "max": SERVE_MAX_OUTPUT_TOKENS},
        },
        "work": {
            "at_most": MAX_WORK,
            "of": ["rows", "beam_width", "max_length"],
            "zero_counts_as": {"max_length": SERVE_MAX_OUTPUT_TOKENS},
        },
    }


class Translator:
    """Raw strings -> translations with everything in the graph: normalization, the source
    encoder, decoding (greedy or beam search) and the way back to text. The export and the
    test scores use this same object, so they cannot drift apart."""

    def __init__(self, model, config: Config, assets: Assets):
        self.config = config
        self.model = model
        self.network = Seq2Seq.of(model, config)
        self.source_encoder = make_source_encoder(config, assets.source_vocabulary)
        self.source_encoder(tf.constant([""]))  # builds the layer, which tracking requires
        self.target_decoder = text.TextDecoder(assets.target_vocabulary, name="target_decoder")
        self.target_decoder(tf.constant([[text.END_ID]]))  # built, as tracking requires
        self.target_words = tf.constant(assets.target_vocabulary)
        self.functions = {}

    def source_words(self, texts):
        """The source words as the encoder sees them (normalized, cut at the serving cap)."""
        standardized = text.standardize(normalize(texts), "word", self.config.lowercase)
        return text.split(standardized)[:, : self.source_encoder.max_length]

    def translate(self, texts, beam_width, max_length=0, greedy=False):
        """(source ids, target ids, lengths, translations) for a batch of raw strings. An
        empty (or all-space) text translates to an empty string."""
        normalized = normalize(texts)
        source_ids = tf.cast(self.source_encoder(normalized), tf.int32)
        limit = output_limit(source_ids, self.config.max_output_ratio, max_length)
        target_ids, lengths = translate_ids(
            self.network, source_ids, limit, beam_width, self.config.length_penalty, greedy
        )
        empty = tf.equal(tf.strings.length(tf.strings.strip(normalized)), 0)
        lengths = tf.where(empty, 0, lengths)
        translations = tf.where(empty, "", reattach_marks(self.target_decoder(target_ids, lengths)))
        return source_ids, target_ids, lengths, translations

    def compiled(self, beam_width: int, greedy=False):
        """`translate`'s translations as a tf.function of a string batch, traced once per
        setting and kept, so batch after batch runs the same graph."""
        key = (beam_width, greedy)
        if key not in self.functions:
            self.functions[key] = tf.function(
                lambda texts: self.translate(texts, beam_width, greedy=greedy)[3],
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        return self.functions[key]

    def with_attention(self, texts):
        """Translations (beam search, the run's width) with the words on both sides and the
        attention weights [batch, target words, source words] the decoder used."""
        source_ids, target_ids, lengths, translations = self.translate(texts, self.config.beam_width)
        written = tf.sequence_mask(lengths, tf.shape(target_ids)[1])
        target_words = tf.where(written, tf.gather(self.target_words, target_ids), "")
        shape = tf.shape(source_ids, out_type=tf.int64)
        source_words = self.source_words(texts).to_tensor(default_value="", shape=shape)
        if self.config.attention == "none":
            weights = tf.zeros([shape[0], tf.shape(target_ids, out_type=tf.int64)[1], shape[1]])
        else:
            weights = attention_map(self.network, source_ids, target_ids, lengths)
        return {
            "translation": translations,
            "source_tokens": source_words,
            "source_length": tf.cast(tf.reduce_sum(tf.cast(source_words != "", tf.int64), axis=1), tf.int32),
            "target_tokens": target_words,
            "length": lengths,
            "weights": weights,
        }


def signatures(model, config: Config, assets: Assets):
    """`serving_default`: `text` -> `translation`; `translate`: `text`, `beam_width` (>= 1),
    `max_length` (0: ratio * the longest source + 5) -> `translation`, `length`;
    `attention`: `text` -> `translation`, `source_tokens`, `source_length`, `target_tokens`,
    `length`, `weights` [batch, target words, source words]."""
    translator = Translator(model, config, assets)

    def serve(texts):
        return {"translation": translator.translate(texts, config.beam_width)[3]}

    def translate(texts, beam_width, max_length):
        _, _, lengths, translations = translator.translate(texts, beam_width, max_length)
        return {"translation": translations, "length": lengths}

    text_spec = tf.TensorSpec([None], tf.string, name="text")
    functions = {
        "serving_default": Signature(serve, [text_spec]),
        "translate": Signature(
            translate,
            [text_spec, tf.TensorSpec([], tf.int32, name="beam_width"), tf.TensorSpec([], tf.int32, name="max_length")],
            limits=translate_limits(),
        ),
        # weights are padded on both axes: rows by `length`, columns by `source_length`.
        "attention": Signature(
            translator.with_attention,
            [text_spec],
            padded_outputs={"source_tokens": "source_length", "target_tokens": "length", "weights": "length"},
        ),
    }
    return functions, [translator.source_encoder, translator.target_decoder, model]


def predict(export, texts: list[str]) -> list[dict]:
    """One answer per text: the text and its translation."""
    outputs = answer_texts(export, texts, "translate")
    return [
        {"text": sentence, "translation": translation.decode("utf-8")}
        for sentence, translation in zip(texts, outputs["translation"])
    ]
