"""Exact held-out scores of a language model, the n-gram baselines, and samples.

Perplexity = exp(total negative log-likelihood over every held-out token / token count),
summed token by token (never a mean of batch means). The held-out stream is read as
training reads it: `batch_size` contiguous rows, each from the zero state, in windows
with the state carried from one window to the next, so every token but the first is
scored exactly once. Bits per token = nats per token / ln 2 (bits per character at
character level).
"""

import json
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tasks.generation import baselines
from tasks.generation.config import Config, baseline_values
from tasks.generation.data import Assets, Data
from tasks.generation.model import build_step_model, state_shapes
from tasks.generation.serve import Generator

WINDOW = 400  # tokens per forward call when scoring; the state carries, so it changes nothing but speed
SAMPLE_PROMPTS = {"char": ["ROMEO:", "First Citizen:\n"], "word": ["the company said", ""]}
SAMPLE_TEMPERATURES = (0.5, 1.0)


class StreamScorer:
    """Total negative log-likelihood of a token stream under a step model, state carried."""

    def __init__(self, step_model: keras.Model, state_widths: list[int]):
        self.step_model = step_model
        self.state_widths = state_widths

    @tf.function(reduce_retracing=True)
    def window_nats(self, inputs, targets, states):
        outputs = tf.nest.flatten(self.step_model([inputs, *states], training=False))
        nats = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, tf.cast(outputs[0], tf.float32))
        # Padding (id 0, only after a row's end) is masked: it keeps the state and scores nothing.
        nats = tf.where(tf.not_equal(inputs, 0), nats, 0.0)
        return tf.reduce_sum(tf.cast(nats, tf.float64)), outputs[1:]

    def nats(self, ids: np.ndarray, rows: int) -> tuple[float, int]:
        """(total nats, tokens scored) over ids[1:], read as `rows` contiguous rows."""
        count = len(ids) - 1
        rows = max(1, min(rows, count))
        length = -(-count // rows)
        inputs = np.zeros(rows * length, np.int32)
        targets = np.zeros(rows * length, np.int32)
        inputs[:count], targets[:count] = ids[:-1], ids[1:]
        inputs, targets = inputs.reshape(rows, length), targets.reshape(rows, length)
        states = [tf.zeros([rows, width]) for width in self.state_widths]
        total = 0.0
        for start in range(0, length, WINDOW):
            window = slice(start, start + WINDOW)
            nats, states = self.window_nats(tf.constant(inputs[:, window]), tf.constant(targets[:, window]), states)
            total += float(nats)
        return total, count

    def scores(self, ids: np.ndarray, rows: int) -> dict:
        """Exact perplexity and bits per token over ids[1:], read as `rows` contiguous rows."""
        return scores(*self.nats(ids, rows))


def scores(total_nats: float, count: int) -> dict:
    """Perplexity and bits per token from a total NLL in nats."""
    mean = total_nats / count
    return {"perplexity": math.exp(mean), "bits_per_token": mean / math.log(2), "nats_per_token": mean, "tokens": count}


def exact_scores(step_model, config: Config, ids: np.ndarray) -> dict:
    """Exact perplexity and bits per token of a step model on one held-out stream."""
    return StreamScorer(step_model, state_shapes(config)).scores(ids, config.batch_size)


class ExactValidationPerplexity(keras.callbacks.Callback):
    """Adds the exact `val_perplexity` and `val_bits_per_token` to each epoch's logs (the
    metric the task monitors), scored on a stateless copy of the model being trained."""

    def __init__(self, config: Config, assets: Assets, validation_ids: np.ndarray):
        super().__init__()
        self.config, self.assets, self.validation_ids = config, assets, validation_ids
        self.scorer = None

    def on_epoch_end(self, epoch, logs=None):
        if self.scorer is None:
            # One scorer for the whole run, so its tf.function is traced once, not every epoch.
            self.scorer = StreamScorer(build_step_model(self.config, self.assets), state_shapes(self.config))
        self.scorer.step_model.set_weights(self.model.get_weights())
        result = self.scorer.scores(self.validation_ids, self.config.batch_size)
        if logs is not None:
            logs["val_perplexity"] = result["perplexity"]
            logs["val_bits_per_token"] = result["bits_per_token"]


class ResetStates(keras.callbacks.Callback):
    """Sequential batching: the carried state starts from zero at each epoch and before
    validation, so it never crosses from training text into held-out text."""

    def reset(self):
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    def on_epoch_begin(self, epoch, logs=None):
        self.reset()

    def on_test_begin(self, logs=None):
        self.reset()


def evaluate(model, config: Config, data: Data, run_path: Path) -> dict:
    """Exact test (and validation) scores, the n-gram baselines on the same split (add-k
    unigram and bigram; interpolated Witten-Bell of the order best on validation), and
    sample continuations at two temperatures written to `samples.txt`."""
    # One scorer for both streams, so its tf.function is traced once.
    scorer = StreamScorer(build_step_model(config, data.assets, weights_from=model), state_shapes(config))
    test = scorer.scores(data.ids["test"], config.batch_size)
    metrics = dict(test)
    metrics["validation_perplexity"] = scorer.scores(data.ids["validation"], config.batch_size)["perplexity"]
    if config.tokenizer == "char":
        metrics["bits_per_character"] = test["bits_per_token"]
    vocabulary_size = len(data.assets.vocabulary)
    found = baselines.baseline_scores(
        data.ids["train"], data.ids["validation"], data.ids["test"], vocabulary_size, baseline_values(config)
    )
    for name, result in found.items():
        metrics[f"{name}_perplexity"] = result["perplexity"]
        metrics[f"{name}_bits_per_token"] = result["bits_per_token"]
        metrics[f"{name}_k"] = result["k"]
    ngram = baselines.witten_bell_scores(
        data.ids["train"], data.ids["validation"], data.ids["test"], vocabulary_size, config.ngram_max_order
    )
    metrics["ngram_smoothing"] = "interpolated Witten-Bell"
    metrics.update({f"ngram_{name}": value for name, value in ngram.items()})
    metrics["uniform_perplexity"] = float(vocabulary_size)
    write_samples(scorer.step_model, config, data.assets, run_path / "samples.txt")
    return metrics


def write_samples(step_model, config: Config, assets: Assets, path: Path) -> None:
    """A few continuations per temperature (seeded), so every run shows what it writes."""
    generate = tf.function(Generator(step_model, config, assets).generate)  # one trace for every temperature
    prompts = SAMPLE_PROMPTS["char" if config.tokenizer == "char" else "word"]
    length = tf.constant(300 if config.tokenizer == "char" else 40)
    lines = []
    for temperature in SAMPLE_TEMPERATURES:
        settings = (
            tf.constant(temperature),
            tf.constant(0),
            tf.constant(1.0),
            length,
            tf.constant(7, tf.int64),
            tf.constant(1),
        )
        texts = generate(tf.constant(prompts), *settings)["text"].numpy()
        for prompt, continuation in zip(prompts, texts):
            lines.append(
                json.dumps({"temperature": temperature, "prompt": prompt, "continuation": continuation.decode()})
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
