"""How fast does each translation head leave the unigram plateau? Validation loss every
`every` updates of teacher-forced training, next to the n-gram floors, in one run.

    python -m bench.translation_plateau [variants=decoder,none,multiplicative,cross] [updates=600]
        [every=100] [key=value ...]   (the translation options: seed=1 max_length=50 ...)

Each variant trains from the same seed on the same batches for `updates` updates:

- decoder: the decoder alone, a Spanish language model (no source at all);
- none, additive, multiplicative, scaled, cross: the task's model with that attention;
- none+tanh: no attention, but h_t reaches the logits through one tanh layer, as the
  concatenating attentions' h_t does (tanh(W [h_t; c_t])), to tell the layer from attention;
- multiplicative+residual: multiplicative scores, but the output is h_t + O c_t (no tanh).

Printed first: the unigram and bigram (add-k, k best on validation) cross-entropies of the
validation target words (each word after its predecessor, END included): a decoder that
reads its previous word should pass the bigram's within a few hundred updates.
"""

import collections
import math
import sys
import time

import keras
import numpy as np

from common.config import apply_overrides
from common.runtime import set_seeds
from tasks.translation import data as translation_data
from tasks.translation import model as translation_model
from tasks.translation.config import Config

ABLATIONS = {"none+tanh": "none", "multiplicative+residual": "multiplicative"}


class AblatedSeq2Seq(translation_model.Seq2Seq):
    """The task's model with one change to its head (see the module's docstring)."""

    ablation = ""

    def head(self, outputs, encoded, query_mask=None, training=False):
        if self.ablation == "none+tanh":
            return self.logits(self.output_dropout(self.attention_output(outputs), training=training)), None
        if self.ablation == "multiplicative+residual":
            context, weights = self.attention(
                [outputs, encoded.memory, encoded.keys], mask=[query_mask, encoded.mask], return_attention_scores=True
            )
            return self.logits(
                self.output_dropout(outputs + self.attention_output(context), training=training)
            ), weights
        return super().head(outputs, encoded, query_mask, training)


def ablated_model(config: Config, assets, ablation: str) -> keras.Model:
    """`build_model` with `AblatedSeq2Seq` and the ablation's own output layer."""
    network = AblatedSeq2Seq.new(config, assets)
    network.ablation = ablation
    activation = "tanh" if ablation == "none+tanh" else None
    network.layers["attention_output"] = keras.layers.Dense(config.decoder_units, activation=activation)
    source = keras.Input(shape=(None,), dtype="int32")
    target_in = keras.Input(shape=(None,), dtype="int32")
    logits, _ = network.decode_sequence(target_in, network.encode(source, training=None), training=None)
    return compiled(keras.Model([source, target_in], logits), config)


def decoder_only(config: Config, vocabulary_size: int) -> keras.Model:
    """Target embedding -> dropout -> the decoder's cell -> dropout -> logits; the source is ignored."""
    source = keras.Input(shape=(None,), dtype="int32")
    target_in = keras.Input(shape=(None,), dtype="int32")
    steps = keras.layers.Dropout(config.dropout)(
        keras.layers.Embedding(vocabulary_size, config.embedding_dim)(target_in)
    )
    steps = keras.layers.LSTM(config.decoder_units, return_sequences=True)(steps)
    logits = keras.layers.Dense(vocabulary_size, dtype="float32")(keras.layers.Dropout(config.dropout)(steps))
    return compiled(keras.Model([source, target_in], logits), config)


def compiled(model: keras.Model, config: Config) -> keras.Model:
    """Compiled as the task compiles its model."""
    optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clipnorm or None)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    model.compile(optimizer=optimizer, loss=loss)
    return model


def word_pairs(dataset):
    """(previous word, word) of every real target position."""
    for (_, target_in), target_out in dataset:
        for previous, word in zip(target_in.numpy().ravel(), target_out.numpy().ravel()):
            if word:
                yield int(previous), int(word)


def ngram_floors(train, validation, vocabulary_size: int) -> dict:
    """Validation cross-entropy (nats per word) of add-k unigram and bigram models."""
    unigrams = collections.Counter(word for _, word in train)
    bigrams, contexts = collections.Counter(train), collections.Counter(previous for previous, _ in train)
    total = len(train)

    def unigram(word, k):
        return (unigrams[word] + k) / (total + k * vocabulary_size)

    def bigram(previous, word, k):
        return (bigrams[(previous, word)] + k * vocabulary_size * unigram(word, 0.1)) / (
            contexts[previous] + k * vocabulary_size
        )

    ks = (1, 0.1, 0.01, 0.001)
    return {
        "unigram": min(-np.mean([math.log(unigram(word, k)) for _, word in validation]) for k in ks),
        "bigram": min(-np.mean([math.log(bigram(previous, word, k)) for previous, word in validation]) for k in ks),
    }


def curve(model: keras.Model, datasets: dict, updates: int, every: int) -> list[tuple[int, float, float]]:
    """(updates so far, training loss of the last stretch, validation loss) every `every` updates."""
    batches = datasets["train"].repeat()
    points = []
    for done in range(every, updates + 1, every):
        history = model.fit(batches, steps_per_epoch=every, epochs=1, verbose=0)
        points.append((done, history.history["loss"][-1], model.evaluate(datasets["validation"], verbose=0)))
    return points


def main(arguments: list[str]) -> None:
    settings = {"variants": "decoder,none,multiplicative,cross", "updates": "600", "every": "100"}
    options = []
    for argument in arguments:
        key = argument.split("=", 1)[0]
        if key in settings:
            settings[key] = argument.split("=", 1)[1]
        else:
            options.append(argument)
    config = apply_overrides(Config(), ["verbose=0", *options])
    data = translation_data.load_data(config)
    datasets = translation_data.make_datasets(config, data, config.batch_size)
    vocabulary_size = len(data.assets.target_vocabulary)
    floors = ngram_floors(
        list(word_pairs(datasets["train"])), list(word_pairs(datasets["validation"])), vocabulary_size
    )
    print(f"validation floors (nats per word): unigram {floors['unigram']:.3f}, bigram {floors['bigram']:.3f}")
    print(f"options: {' '.join(options) or '(defaults)'}; validation loss after N updates (training loss)")
    for variant in settings["variants"].split(","):
        set_seeds(config.seed)
        started = time.perf_counter()
        if variant == "decoder":
            model = decoder_only(config, vocabulary_size)
        elif variant in ABLATIONS:
            model = ablated_model(apply_overrides(config, [f"attention={ABLATIONS[variant]}"]), data.assets, variant)
        else:
            model = translation_model.build_model(apply_overrides(config, [f"attention={variant}"]), data.assets)
        points = curve(model, datasets, int(settings["updates"]), int(settings["every"]))
        line = "  ".join(f"{done}: {validation:.3f} ({loss:.2f})" for done, loss, validation in points)
        print(f"{variant:>24}  {line}  [{time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
