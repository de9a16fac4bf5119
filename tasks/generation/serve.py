"""Generation export: prompts in, continuations out, the whole loop in the graph; texts
in, per-token log-likelihoods and perplexity out; and the CLI codec.

The prompt runs through the model once (after the context token: a newline at character
level, END at word level), which gives the state; then `common.decoding` feeds one token
per step inside `tf.while_loop`, state carried, never re-running the growing prefix.
"""

import numpy as np
import tensorflow as tf

from common import decoding, limits, text
from common.errors import UserError
from common.task import Signature
from tasks.generation.config import MAX_GENERATION_LENGTH, Config
from tasks.generation.data import Assets, context_id, make_encoder
from tasks.generation.model import build_step_model, state_shapes

# Caps on one `generate` request (declared in task.json, asserted in the graph): beam
# search keeps rows x beam_width sequences of up to max_length tokens, so their product
# bounds its memory and time.
MAX_BEAM_WIDTH = 64
MAX_PROMPT_CHARS = 2000
MAX_ROWS = 64
MAX_WORK = 1 << 20  # rows x beam_width x max_length
MAX_TEMPERATURE = 100.0

# What `make predict` asks for: a seeded sample at a moderate temperature.
PREDICT_SETTINGS = {"temperature": 0.8, "top_k": 0, "top_p": 1.0, "max_length": 200, "seed": 42, "beam_width": 1}

GENERATE_SPEC = [
    tf.TensorSpec([None], tf.string, name="prompt"),
    tf.TensorSpec([], tf.float32, name="temperature"),
    tf.TensorSpec([], tf.int32, name="top_k"),
    tf.TensorSpec([], tf.float32, name="top_p"),
    tf.TensorSpec([], tf.int32, name="max_length"),
    tf.TensorSpec([], tf.int64, name="seed"),
    tf.TensorSpec([], tf.int32, name="beam_width"),
]


class Generator:
    """Generation and scoring over a step model ([ids, *states] -> [logits, *states])."""

    def __init__(self, step_model, config: Config, assets: Assets):
        self.step_model = step_model
        self.level = assets.level
        self.widths = state_shapes(config)
        self.context = context_id(assets.vocabulary, assets.level)
        # A prompt is read as it is (no END after it); a scored text ends with END at word level.
        self.prompt_encoder = make_encoder(assets.vocabulary, assets.level, assets.lowercase)
        self.text_encoder = make_encoder(
            assets.vocabulary, assets.level, assets.lowercase, add_end=self.level != "char"
        )
        self.decoder = text.TextDecoder(assets.vocabulary, assets.level)
        self.end_id = text.END_ID if self.level != "char" else -1  # characters have no end token
        never = [text.PADDING_ID, text.START_ID] + ([text.UNKNOWN_ID, text.END_ID] if self.level == "char" else [])
        self.never_written = tf.constant([index in never for index in range(len(assets.vocabulary))])
        for layer in (self.prompt_encoder, self.text_encoder):
            layer(tf.constant([""]))  # builds the layer, which tracking requires
        self.decoder(tf.constant([[text.UNKNOWN_ID]]))

    def run(self, token_ids, states):
        """Logits [batch, time, vocabulary] and final states for ids from `states`."""
        outputs = tf.nest.flatten(self.step_model([token_ids, *states], training=False))
        return tf.cast(outputs[0], tf.float32), list(outputs[1:])

    def with_context(self, ragged_ids):
        """The context token in front of every row."""
        column = tf.fill([ragged_ids.nrows(), 1], tf.constant(self.context, ragged_ids.dtype))
        return tf.concat(
            [tf.RaggedTensor.from_tensor(column, row_splits_dtype=ragged_ids.row_splits.dtype), ragged_ids], 1
        )

    def prompt_state(self, prompts):
        """The last token of each prompt and the state after the tokens before it.

        An empty prompt starts from the context token after one context token (the
        start state); rows of different lengths are right-padded and masked, so each
        ends in the state of its own last token.
        """
        ids = self.with_context(tf.cast(self.prompt_encoder.ragged_ids(prompts), tf.int32))
        last = tf.gather(ids.flat_values, ids.row_limits() - 1)
        before = ids[:, :-1]
        empty = tf.cast(tf.equal(before.row_lengths(), 0), before.row_splits.dtype)
        filler = tf.fill([tf.reduce_sum(empty)], tf.constant(self.context, tf.int32))
        before = tf.concat([before, tf.RaggedTensor.from_row_lengths(filler, empty)], axis=1).to_tensor(0)
        zeros = [tf.zeros([tf.shape(before)[0], width]) for width in self.widths]
        _, states = self.run(before, zeros)
        return last, states

    def step(self, tokens, states):
        logits, states = self.run(tokens[:, tf.newaxis], states)
        # Padding and START never follow anything in training text (nor END at character
        # level, where "[UNK]" would also be written out as five characters); they are ruled out.
        return tf.where(self.never_written, -1e9, logits[:, 0, :]), states

    def generate(self, prompt, temperature, top_k, top_p, max_length, seed, beam_width):
        """Continuations of `prompt` (strings): sampled (temperature 0 is greedy) when
        beam_width is 0 or 1, else the best beam (beam search ignores temperature, top_k,
        top_p and seed); at most `max_length` tokens, stopping at END at word level.
        Returns {"text": continuations, "length": tokens written}. The export asserts
        `generate_limits` before this runs."""
        start, states = self.prompt_state(prompt)
        seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])

        def sampled():
            return decoding.sample(self.step, start, states, max_length, self.end_id, temperature, top_k, top_p, seed)

        def beam():
            return decoding.beam_search(self.step, start, states, max_length, self.end_id, beam_width)[:2]

        tokens, lengths = tf.cond(tf.convert_to_tensor(beam_width) > 1, beam, sampled)
        return {"text": self.decoder(tokens, lengths), "length": lengths}

    def score(self, texts):
        """Per-token log-likelihoods (nats, 0 after a row's end), token counts and perplexity
        of each text read after the context token (and ending with END at word level)."""
        ids = self.with_context(tf.cast(self.text_encoder.ragged_ids(texts), tf.int32))
        inputs, targets = ids[:, :-1].to_tensor(0), ids[:, 1:].to_tensor(0)
        # A text with no tokens (an empty one at character level) still needs one input step.
        inputs = tf.pad(inputs, [[0, 0], [0, 1 - tf.minimum(tf.shape(inputs)[1], 1)]], constant_values=self.context)
        targets = tf.pad(targets, [[0, 0], [0, tf.shape(inputs)[1] - tf.shape(targets)[1]]])
        zeros = [tf.zeros([tf.shape(inputs)[0], width]) for width in self.widths]
        logits, _ = self.run(inputs, zeros)
        log_likelihood = -tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
        log_likelihood = tf.where(tf.not_equal(targets, 0), log_likelihood, 0.0)
        count = tf.reduce_sum(tf.cast(tf.not_equal(targets, 0), tf.int32), axis=1)
        mean = tf.math.divide_no_nan(-tf.reduce_sum(log_likelihood, axis=1), tf.cast(count, tf.float32))
        return {"log_likelihood": log_likelihood, "token_count": count, "perplexity": tf.exp(mean)}


def generate_limits(vocabulary_size: int) -> dict:
    """What one `generate` request may ask (see common.limits): every setting in range,
    prompts of at most MAX_PROMPT_CHARS characters, rows x beam x length at most MAX_WORK."""
    return {
        "rows": MAX_ROWS,
        "chars": MAX_PROMPT_CHARS,
        "settings": {
            "temperature": {"min": 0.0, "max": MAX_TEMPERATURE},
            "top_k": {"min": 0, "max": vocabulary_size},
            "top_p": {"above": 0.0, "max": 1.0},
            "max_length": {"min": 1, "max": MAX_GENERATION_LENGTH},
            "beam_width": {"min": 0, "max": MAX_BEAM_WIDTH},
        },
        "work": {"at_most": MAX_WORK, "of": ["rows", "beam_width", "max_length"], "zero_counts_as": {"beam_width": 1}},
    }


def signatures(model, config: Config, assets: Assets):
    """`serving_default` and `generate`: prompts and settings -> continuations; `score`:
    texts -> per-token log-likelihood and perplexity. The trained model's weights are
    copied into a stateless step model, so the export serves any batch size."""
    generator = Generator(build_step_model(config, assets, weights_from=model), config, assets)
    generate = Signature(generator.generate, GENERATE_SPEC, limits=generate_limits(len(assets.vocabulary)))
    score = Signature(generator.score, [tf.TensorSpec([None], tf.string, name="text")], limits={"rows": MAX_ROWS})
    trackables = [generator.step_model, generator.prompt_encoder, generator.text_encoder, generator.decoder]
    return {"serving_default": generate, "generate": generate, "score": score}, trackables


def check_settings(settings: dict, vocabulary_size: int = np.iinfo(np.int32).max) -> None:
    """One-line errors for settings the export would refuse (its own limits)."""
    dtypes = {spec.name: spec.dtype.as_numpy_dtype for spec in GENERATE_SPEC}
    values = {name: np.asarray(value, dtypes[name]) for name, value in settings.items()}
    problem = limits.check(values, 1, generate_limits(vocabulary_size))
    if problem:
        raise UserError(problem)


def generate_texts(export, prompts: list[str], **overrides) -> list[dict]:
    """Continuations from a loaded export: `PREDICT_SETTINGS` with `overrides`, checked first."""
    settings = {**PREDICT_SETTINGS, **overrides}
    check_settings(settings)  # top_k above the vocabulary size is left to the export's own check
    dtypes = {spec.name: spec.dtype for spec in GENERATE_SPEC}
    inputs = {name: tf.constant(value, dtypes[name]) for name, value in settings.items()}
    outputs = export.signatures["serving_default"](prompt=tf.constant(prompts, tf.string), **inputs)
    continuations = [value.decode("utf-8") for value in outputs["text"].numpy()]
    return [{"prompt": prompt, "continuation": continuation} for prompt, continuation in zip(prompts, continuations)]


def predict(export, prompts: list[str]) -> list[dict]:
    """`make predict TEXT=...`: one seeded continuation per prompt (an empty prompt starts
    from the start state)."""
    if not prompts:
        raise UserError('nothing to continue: give TEXT="..." (or --text), or prompts on standard input')
    return generate_texts(export, prompts)
