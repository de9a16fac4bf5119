"""The encoder-decoder: built once as a Keras model for teacher-forced training, and run
step by step (the same layers, found by name) for greedy and beam-search decoding.

    source ids -> embedding -> encoder (num_layers of `cell`, optionally bidirectional)
               -> memory (every step's output) and final states (a TCN encoder's: its
                  output at the last real word, and the first one backwards)
    final states -> bridge (common.cells) -> the decoder's initial states
    [START] w1 .. wn -> embedding -> decoder (`decoder_cell`) -> outputs h_t
    attention "none":  logits = W h_t (the fixed context: everything passes through the states)
    otherwise:         c_t = attention(h_t, memory), padding masked;  logits = W tanh(V [h_t; c_t])
    "cross":           c_t = attention(Q h_t, K m, V m);  logits = W LayerNorm(h_t + O c_t)

Attention follows Luong et al. (2015), global attention on the decoder's output. By
default without input feeding, so the decoder runs as one cuDNN-eligible layer in
training; `input_feeding=true` joins each step's attentional vector to the next word's
input (`InputFeedingDecoder`, a step-by-step loop that owns the attention). The score is
additive (Bahdanau et al. 2015: v . tanh(W1 h + W2 m)), multiplicative (Luong's
"general": h . W m), scaled (h . W m / sqrt(decoder_units), the scaling of Vaswani et al.
2017) or cross: one head of the Transformer's cross-attention on the decoder's outputs,
as the TensorFlow NMT tutorial's RNN decoder uses it (learned query, key and value
projections, scaled scores, the output added to h_t and layer-normalised), so the decoder's
own path to the logits stays open whatever attention does.

The source embedding may start from pretrained word vectors (`embeddings=`, see
`common.embedding`: GloVe is English); the target embedding always trains from scratch.
"""

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from common import cells, decoding, text
from common.embedding import word_embedding
from tasks.translation.config import SERVE_MAX_OUTPUT_TOKENS, Config
from tasks.translation.data import Assets

# Never written by the decoder: padding, the unknown word and the start marker.
FORBIDDEN_OUTPUTS = (text.PADDING_ID, text.UNKNOWN_ID, text.START_ID)
# The attention layers that read the encoder's memory, once per source sentence.
MEMORY_LAYERS = ("memory_keys", "memory_values")
# Decoding stops after ratio * the longest source + this many words.
OUTPUT_SLACK = 5


@dataclasses.dataclass
class Encoded:
    """What the encoder leaves for the decoder: its outputs (`memory`), their attention keys,
    the source mask, and the decoder's initial states."""

    memory: object
    keys: object
    mask: object
    states: list


def source_embedding(config: Config, vocabulary: list[str]) -> keras.layers.Embedding:
    """The source words' embedding: `embedding_dim` wide from scratch, or started from the
    `embeddings` vectors (their width; `freeze_embeddings`, `frozen_epochs`). It passes on
    no mask: `encode` computes the source mask itself, as the scratch layer has always done."""
    if not config.embeddings:
        return keras.layers.Embedding(len(vocabulary), config.embedding_dim)
    layer = word_embedding(config, vocabulary, name="source_embedding")
    layer.mask_zero = layer.supports_masking = False
    return layer


def attention_layers(attention: str, units: int) -> dict:
    """The layers of each kind of attention, by name. Every kind projects the memory to keys
    (W m); `cross` also projects the query and the values and adds its output to the
    decoder's (a residual) under layer normalisation; the others combine [h_t; c_t] through
    one tanh layer (Luong's attentional hidden state). Those named in `MEMORY_LAYERS` read
    the memory once per source; the others run at each decoding step.

    Keep the order: Keras draws each unseeded initializer's seed when the layer is made,
    so reordering would change every model trained under a seed (and its results)."""
    layers = {"memory_keys": keras.layers.Dense(units, use_bias=False)}
    if attention == "cross":
        layers["query_projection"] = keras.layers.Dense(units, use_bias=False)
        layers["memory_values"] = keras.layers.Dense(units, use_bias=False)
        layers["attention_output"] = keras.layers.Dense(units)
        layers["attention_norm"] = keras.layers.LayerNormalization()
    else:
        layers["attention_output"] = keras.layers.Dense(units, activation="tanh")
    if attention == "additive":
        layers["query_projection"] = keras.layers.Dense(units)
        layers["attention"] = keras.layers.AdditiveAttention()
    else:  # multiplicative, scaled and cross: a dot product
        layers["attention"] = keras.layers.Attention()
    return layers


def step_attention_layers(attention: str, units: int) -> dict:
    """The attention layers that run at each decoding step (all but `MEMORY_LAYERS`). The
    memory layers are made and dropped, so the initializers' seeds are drawn in
    `attention_layers`' one order."""
    return {name: layer for name, layer in attention_layers(attention, units).items() if name not in MEMORY_LAYERS}


def attend(layers: dict, attention: str, outputs, encoded: Encoded, query_mask=None, training=False):
    """Decoder outputs [batch, time, units] -> (attentional vectors [batch, time, units],
    weights [batch, time, source length]), through the step attention layers found by name in `layers`."""
    query = layers["query_projection"](outputs) if attention in ("additive", "cross") else outputs
    context, weights = layers["attention"](
        [query, encoded.memory, encoded.keys],
        mask=[query_mask, encoded.mask],
        return_attention_scores=True,
        training=training,
    )
    if attention == "cross":
        return layers["attention_norm"](outputs + layers["attention_output"](context)), weights
    return layers["attention_output"](ops.concatenate([outputs, context], axis=-1)), weights


@keras.saving.register_keras_serializable(package="translation")
class InputFeedingDecoder(keras.layers.Layer):
    """Luong et al. (2015)'s input feeding: the decoder's input at step t is the target
    word's embedding joined with the attentional vector of step t-1, so each step knows
    where it has attended. The attention thus sits inside the recurrence: this layer runs
    the cell and the attention step by step (`tf.scan`), with no cuDNN kernel.

    Called on the embedded target words [batch, time, embedding] with the encoder's
    memory, keys, source mask and the decoder's initial states, it returns the
    attentional vectors [batch, time, units] and the attention weights [batch, time,
    source length]. `step` runs one step of the same computation, for decoding.
    """

    runs_step_by_step = True  # common.cells.speed_notes: no cuDNN kernel

    def __init__(self, cell: str, units: int, attention: str, **kwargs):
        super().__init__(**kwargs)
        self.cell_type, self.units, self.attention_kind = cell, units, attention
        self.cell = cells.recurrent_cell(cell, units)
        layers = step_attention_layers(attention, units)
        self.step_names = list(layers)
        for name, layer in layers.items():
            layer.name = name
            setattr(self, name, layer)  # tracked one by one, so their weights save by name

    def build(self, steps_shape, memory_shape, keys_shape):
        units = self.units
        self.cell.build((None, steps_shape[-1] + units))
        query = (None, 1, units)
        if "query_projection" in self.step_names:
            self.query_projection.build(query)
        self.attention.build([query, memory_shape, keys_shape])
        if self.attention_kind == "cross":
            self.attention_output.build(query)
            self.attention_norm.build(query)
        else:
            self.attention_output.build((None, 1, units + memory_shape[-1]))
        self.built = True

    def step(self, inputs, states: list, feed, encoded: Encoded, training=False):
        """One word: embedded inputs [batch, embedding], the cell's states, the previous
        attentional vector [batch, units] -> (attentional vector, new states, weights
        [batch, source length])."""
        output, states = self.cell(ops.concatenate([inputs, feed], axis=-1), list(states), training=training)
        parts = {name: getattr(self, name) for name in self.step_names}
        attended, weights = attend(parts, self.attention_kind, output[:, None, :], encoded, training=training)
        return attended[:, 0, :], list(states), weights[:, 0, :]

    def call(self, steps, memory, keys, source_mask, initial_state, training=None):
        encoded = Encoded(memory, keys, source_mask, [])
        batch, source_length = tf.shape(source_mask)[0], tf.shape(source_mask)[1]
        start = (
            list(initial_state),
            tf.zeros([batch, self.units], steps.dtype),
            tf.zeros([batch, source_length], steps.dtype),
        )

        def one_step(previous, inputs):
            states, feed, _ = previous
            feed, states, weights = self.step(inputs, states, feed, encoded, training=training)
            return states, feed, weights

        # Time first for the scan, then batch first again.
        _, outputs, weights = tf.scan(one_step, tf.transpose(steps, [1, 0, 2]), initializer=start)
        return tf.transpose(outputs, [1, 0, 2]), tf.transpose(weights, [1, 0, 2])

    def compute_output_spec(self, steps, memory, keys, source_mask, initial_state, training=None):
        batch, time = steps.shape[0], steps.shape[1]
        return (
            keras.KerasTensor((batch, time, self.units), dtype=steps.dtype),
            keras.KerasTensor((batch, time, source_mask.shape[1]), dtype=steps.dtype),
        )

    def get_config(self):
        return {**super().get_config(), "cell": self.cell_type, "units": self.units, "attention": self.attention_kind}


def decoder_layer(config: Config):
    """The decoder: one recurrent layer over the whole target, or with input feeding the
    loop that runs the cell and the attention word by word."""
    if config.input_feeding:
        return InputFeedingDecoder(config.target_cell, config.decoder_units, config.attention)
    return cells.recurrent_layer(config.target_cell, config.decoder_units, return_sequences=True, return_state=True)


class Seq2Seq:
    """The model's layers by role, with the three ways of running them: `encode`,
    `decode_sequence` (teacher forcing, for training and for attention maps) and `step`
    (one token, for `common.decoding`). Built from a config (new layers) or from a trained
    model (its layers, by name), so decoding uses exactly the trained weights."""

    def __init__(self, config: Config, layers: dict):
        self.config = config
        self.layers = layers

    @classmethod
    def new(cls, config: Config, assets: Assets) -> "Seq2Seq":
        """Fresh layers for `config`."""
        layers = {
            "source_embedding": source_embedding(config, assets.source_vocabulary),
            "target_embedding": keras.layers.Embedding(len(assets.target_vocabulary), config.embedding_dim),
            "embedding_dropout": keras.layers.Dropout(config.dropout),
            "output_dropout": keras.layers.Dropout(config.dropout),
            "decoder": decoder_layer(config),
            "logits": keras.layers.Dense(len(assets.target_vocabulary), dtype="float32"),
        }
        for depth in range(config.num_layers):
            last = depth == config.num_layers - 1
            layers[f"encoder_{depth + 1}"] = cells.recurrent_layer(
                config.cell,
                config.units,
                return_sequences=True,
                return_state=last,
                bidirectional=config.bidirectional,
                context=config.max_length,
            )
        for index, layer in enumerate(cells.bridge_layers(config.target_cell, config.decoder_units)):
            layers[f"bridge_{index}"] = layer
        if config.attention != "none":
            attention = attention_layers(config.attention, config.decoder_units)
            if config.input_feeding:  # the decoder owns the step layers (its own copies)
                attention = {name: layer for name, layer in attention.items() if name in MEMORY_LAYERS}
            layers.update(attention)
        for name, layer in layers.items():
            layer.name = name  # so that a trained model's layers can be found again
        return cls(config, layers)

    @classmethod
    def of(cls, model: keras.Model, config: Config) -> "Seq2Seq":
        """The layers of a model that `build_model` made."""
        return cls(config, {layer.name: layer for layer in model.layers})

    def __getattr__(self, name):
        try:
            return self.__dict__["layers"][name]
        except KeyError:
            raise AttributeError(name) from None

    # ------------------------------------------------------------ running the layers

    def encode(self, source_ids, training=False) -> Encoded:
        """Source ids [batch, source length] (right-padded with 0) -> `Encoded`."""
        config = self.config
        mask = ops.not_equal(source_ids, text.PADDING_ID)
        steps = self.embedding_dropout(self.source_embedding(source_ids), training=training)
        for depth in range(1, config.num_layers):
            steps = self.layers[f"encoder_{depth}"](steps, mask=mask, training=training)
        results = self.layers[f"encoder_{config.num_layers}"](steps, mask=mask, training=training)
        memory, states = cells.split_outputs_and_states(results, config.cell, config.bidirectional)
        bridges = [self.layers[f"bridge_{i}"] for i in range(cells.state_count(config.target_cell))]
        states = cells.bridge_states(cells.merge_directions(states, config.bidirectional), bridges)
        keys = self.memory_keys(memory) if config.attention != "none" else None
        if config.attention in ("scaled", "cross"):  # once per source here, not at every decoding step
            keys = keys * config.decoder_units**-0.5
        if config.attention == "cross":  # what attention averages: projected values, not the memory itself
            memory = self.memory_values(memory)
        return Encoded(memory, keys, mask, states)

    def decode_sequence(self, target_in, encoded: Encoded, training=False):
        """Teacher forcing: [START] w1 .. wn [batch, time] -> (logits [batch, time, vocabulary],
        attention weights [batch, time, source length] or None)."""
        mask = ops.not_equal(target_in, text.PADDING_ID)
        steps = self.embedding_dropout(self.target_embedding(target_in), training=training)
        if self.config.input_feeding:
            outputs, weights = self.decoder(
                steps, encoded.memory, encoded.keys, encoded.mask, encoded.states, training=training
            )
            logits, _ = self.head(outputs, encoded, mask, training)
            return logits, weights
        results = self.decoder(steps, mask=mask, initial_state=encoded.states, training=training)
        outputs, _ = cells.split_outputs_and_states(results, self.config.target_cell)
        return self.head(outputs, encoded, mask, training)

    def head(self, outputs, encoded: Encoded, query_mask=None, training=False):
        """Decoder outputs [batch, time, units] -> (logits, attention weights or None).
        With input feeding the decoder has attended already: its outputs are the
        attentional vectors."""
        weights = None
        if self.config.attention != "none" and not self.config.input_feeding:
            outputs, weights = attend(self.layers, self.config.attention, outputs, encoded, query_mask, training)
        return self.logits(self.output_dropout(outputs, training=training)), weights

    def initial_state(self, encoded: Encoded) -> dict:
        """The decoding state: the decoder's states and what attention reads. Everything has
        the batch first, so beam search tiles it across beams once and reorders it by parent."""
        state = {"decoder": list(encoded.states), "mask": encoded.mask}
        if self.config.attention != "none":
            state.update(memory=encoded.memory, keys=encoded.keys)
        if self.config.input_feeding:  # the attentional vector before the first word: zeros
            state["feed"] = ops.zeros((ops.shape(encoded.mask)[0], self.config.decoder_units))
        return state

    def step(self, tokens, state):
        """One decoding step for `common.decoding`: previous tokens [batch] -> (logits
        [batch, vocabulary] with padding, unknown and start ruled out, the new state)."""
        inputs = self.target_embedding(tokens)
        encoded = Encoded(state.get("memory"), state.get("keys"), state["mask"], [])
        updates = {}
        if self.config.input_feeding:
            output, decoder_states, _ = self.decoder.step(inputs, list(state["decoder"]), state["feed"], encoded)
            updates["feed"] = output
        else:
            output, decoder_states = self.decoder.cell(inputs, list(state["decoder"]), training=False)
        logits, _ = self.head(output[:, tf.newaxis, :], encoded)
        vocabulary = tf.shape(logits)[-1]
        forbidden = tf.reduce_sum(tf.one_hot(FORBIDDEN_OUTPUTS, vocabulary), axis=0) * decoding.IMPOSSIBLE
        return logits[:, 0, :] + forbidden, {**state, "decoder": list(decoder_states), **updates}


@keras.saving.register_keras_serializable(package="translation")
class SmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy against label-smoothed targets (Szegedy et al. 2016): the true word
    gets 1 - smoothing of the probability, every word of the vocabulary smoothing / size,
    as `keras.losses.CategoricalCrossentropy(label_smoothing=...)` does for one-hot
    targets, which Keras's sparse loss cannot. Padding (id 0) is left out and the loss
    is averaged over real words, like the sparse loss's `ignore_class`."""

    def __init__(self, smoothing: float, name="smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        true_word = -ops.squeeze(ops.take_along_axis(log_probs, y_true[..., None], axis=-1), axis=-1)
        every_word = -ops.mean(log_probs, axis=-1)
        losses = (1.0 - self.smoothing) * true_word + self.smoothing * every_word
        real = ops.cast(ops.not_equal(y_true, text.PADDING_ID), losses.dtype)
        # The default reduction divides by all positions; rescale so it averages real words.
        positions = ops.cast(ops.size(real), losses.dtype)
        return losses * real * positions / ops.maximum(ops.sum(real), 1.0)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


def training_loss(config: Config) -> keras.losses.Loss:
    """Cross-entropy over real target words, label-smoothed when the config asks (Keras's
    own sparse loss otherwise, so runs made before the option train bit for bit as before)."""
    if config.label_smoothing:
        return SmoothedCrossentropy(config.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=text.PADDING_ID)


def build_model(config: Config, assets: Assets) -> keras.Model:
    """The teacher-forced training model: (source ids, target input ids) -> logits, compiled
    with cross-entropy that ignores padding (id 0), label-smoothed when asked, and Adam
    with an optional warm-up."""
    from common.optimizers import make_optimizer

    network = Seq2Seq.new(config, assets)
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    logits, _ = network.decode_sequence(target_in, network.encode(source, training=None), training=None)
    attention = "" if config.attention == "none" else f"_{config.attention}"
    model = keras.Model([source, target_in], logits, name=f"{config.cell}_encoder_decoder{attention}")
    model.compile(
        optimizer=make_optimizer(config, config.warmup_steps),
        loss=training_loss(config),
    )
    return model


# ---------------------------------------------------------------- decoding


def output_limit(source_ids, ratio: float, requested=0):
    """The most target words to write: `requested` when positive, else ratio * the batch's
    longest source + OUTPUT_SLACK; never more than SERVE_MAX_OUTPUT_TOKENS."""
    longest = tf.reduce_max(tf.math.count_nonzero(source_ids, axis=1, dtype=tf.int32))
    relative = tf.cast(tf.math.ceil(ratio * tf.cast(longest, tf.float32)), tf.int32) + OUTPUT_SLACK
    requested = tf.cast(requested, tf.int32)
    return tf.minimum(tf.where(requested > 0, requested, relative), SERVE_MAX_OUTPUT_TOKENS)


def translate_ids(network: Seq2Seq, source_ids, max_length, beam_width=1, length_penalty=0.6, greedy=False):
    """Target ids [batch, max_length] (padding after each row's end) and lengths [batch].

    The encoder runs once per sentence; beam search tiles its output across the beams.
    `greedy=True` decodes greedily (beam_width is then unused).
    """
    encoded = network.encode(source_ids)
    state = network.initial_state(encoded)
    start = tf.fill([tf.shape(source_ids)[0]], text.START_ID)
    if greedy:
        return decoding.greedy(network.step, start, state, max_length, end_id=text.END_ID)
    tokens, lengths, _ = decoding.beam_search(
        network.step, start, state, max_length, text.END_ID, beam_width, length_penalty
    )
    return tokens, lengths


def attention_map(network: Seq2Seq, source_ids, target_ids, lengths):
    """The attention weights [batch, output length, source length] the decoder used for each
    written word (one teacher-forced pass over the output; rows past a row's length are 0)."""
    batch = tf.shape(target_ids)[0]
    target_in = tf.concat([tf.fill([batch, 1], text.START_ID), target_ids[:, :-1]], axis=1)
    _, weights = network.decode_sequence(target_in, network.encode(source_ids))
    written = tf.sequence_mask(lengths, tf.shape(target_ids)[1], dtype=weights.dtype)
    return weights * written[:, :, tf.newaxis]
