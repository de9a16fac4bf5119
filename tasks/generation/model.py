"""Language model: embedding -> dropout -> stacked RNN (dropout between layers) -> dropout
-> logits over the vocabulary (float32), optionally through the tied embedding matrix.

Two models share one layout, so weights copy from one to the other in order:

- the training model (`build_model`): token ids in, logits out; with sequential batching
  its recurrent layers are stateful (the state carries from one batch to the next and
  `ResetStates` clears it at each epoch and before validation);
- the step model (`build_step_model`): token ids and the initial states in, logits and the
  final states out, for exact held-out scores, scoring and generation with carried state.

Dropout sits only on the non-recurrent connections (Zaremba et al. 2014), which keeps
every layer cuDNN-eligible. Id 0 is padding and masked: a masked step keeps the state, so
right-padded rows of different lengths end in the state of their last real token.

A TCN (`cell=tcn`) has no recurrent state. Its step model carries the tokens instead: its
state is the last `history_length` token ids (receptive field - 1), run again in front of
the new tokens at every step, which gives exactly what one pass over the whole text gives.
Its levels are the most whose receptive field fits in one training window (`bptt`), so it
never reads further back than training showed it; with sequential batching the training
model is not stateful (nothing carries from batch to batch), as for `cell=none`.
"""

import keras
from keras import ops

from common import cells, tcn
from common.embedding import word_embedding
from common.optimizers import make_optimizer
from tasks.generation.config import Config
from tasks.generation.data import Assets, training_steps


def recurrent_layers(config: Config, stateful: bool = False) -> list:
    """The stack's layers: recurrent ones return sequences and their final states."""
    if config.cell == cells.NO_RECURRENCE:
        return [keras.layers.Dense(config.units, activation="tanh") for _ in range(config.num_layers)]
    if config.cell == cells.TCN:
        context = tcn.receptive_field(tcn_levels(config))
        return [
            cells.recurrent_layer(cells.TCN, config.units, return_sequences=True, context=context)
            for _ in range(config.num_layers)
        ]
    return [
        cells.recurrent_layer(config.cell, config.units, return_sequences=True, return_state=True, stateful=stateful)
        for _ in range(config.num_layers)
    ]


def tcn_levels(config: Config) -> int:
    """cell=tcn: the most levels per layer whose stacked receptive field fits in `bptt` tokens
    (at least one level)."""
    levels = 1
    while tcn.receptive_field(levels + 1, num_layers=config.num_layers) <= config.bptt:
        levels += 1
    return levels


def history_length(config: Config) -> int:
    """cell=tcn: how many tokens before the current one its step model carries."""
    return tcn.receptive_field(tcn_levels(config), num_layers=config.num_layers) - 1


def state_shapes(config: Config) -> list[int]:
    """The width of every state tensor the step model takes and returns, layer by layer."""
    if config.cell == cells.NO_RECURRENCE:
        return []
    if config.cell == cells.TCN:
        return [history_length(config)]
    return [config.units] * (cells.state_count(config.cell) * config.num_layers)


@keras.saving.register_keras_serializable(package="rnn_suite")
class TokenHistory(keras.layers.Layer):
    """The TCN step model's state: the last `length` token ids (floats, as every state is;
    0 where there is none yet, masked as padding is). [history, new ids] -> (the ids to run:
    the history, then the new ids; the next history: the `length` ids ending at each row's
    last real token, rows being right-padded)."""

    def __init__(self, length: int, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def call(self, inputs):
        history, token_ids = inputs
        ids = ops.concatenate([ops.cast(ops.round(history), token_ids.dtype), token_ids], axis=1)
        ends = self.length + ops.sum(ops.cast(ops.not_equal(token_ids, 0), "int32"), axis=1)
        positions = ops.expand_dims(ends - self.length, 1) + ops.expand_dims(ops.arange(self.length, dtype="int32"), 0)
        return ids, ops.cast(ops.take_along_axis(ids, positions, axis=1), history.dtype)

    def get_config(self):
        return {**super().get_config(), "length": self.length}


@keras.saving.register_keras_serializable(package="rnn_suite")
class NewestSteps(keras.layers.Layer):
    """[sequences, new ids] -> the last steps of `sequences`, one per new id: the TCN step
    model's outputs for the new tokens (the history's steps are dropped)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        sequences, token_ids = inputs
        return sequences[:, ops.shape(sequences)[1] - ops.shape(token_ids)[1] :]

    def compute_mask(self, inputs, mask=None):
        return None


def network(token_ids, config: Config, vocabulary: list[str], stateful: bool = False, states=None):
    """Logits [batch, time, vocabulary] (float32) and the final states for `token_ids`.

    `states` (a flat list, `state_shapes` wide) starts each layer; None starts at zero.
    """
    vocabulary_size = len(vocabulary)
    new_ids = token_ids
    carries_tokens = config.cell == cells.TCN and states
    if carries_tokens:
        token_ids, next_history = TokenHistory(history_length(config))([states[0], token_ids])
    if config.tie_embeddings:
        embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size, config.embedding_dim, mask_zero=True, reverse_dtype="float32", name="embedding"
        )
    else:  # from scratch, or started from pretrained word vectors (`embeddings=`)
        embedding = word_embedding(config, vocabulary)
    hidden = keras.layers.Dropout(config.dropout)(embedding(token_ids))
    # Passed to every recurrent layer explicitly: given `initial_state`, Keras 3.15 drops the
    # mask the embedding attaches, and padding steps would then update the state.
    mask = embedding.compute_mask(token_ids)
    final_states = []
    per_layer = len(state_shapes(config)) // config.num_layers if states else 0
    for depth, layer in enumerate(recurrent_layers(config, stateful)):
        if depth:
            hidden = keras.layers.Dropout(config.dropout)(hidden)
        if not cells.is_recurrent(config.cell):
            hidden = layer(hidden)
            continue
        initial = states[depth * per_layer : (depth + 1) * per_layer] if states else None
        hidden, *layer_states = layer(hidden, initial_state=initial, mask=mask)
        final_states += layer_states
    if carries_tokens:
        hidden, final_states = NewestSteps()([hidden, new_ids]), [next_history]
    hidden = keras.layers.Dropout(config.dropout)(hidden)
    if config.tie_embeddings:
        if config.cell == cells.NO_RECURRENCE or config.units != config.embedding_dim:
            hidden = keras.layers.Dense(config.embedding_dim)(hidden)
        logits = embedding(hidden, reverse=True)
    else:
        # float32 logits keep the softmax stable under mixed precision.
        logits = keras.layers.Dense(vocabulary_size, dtype="float32", name="logits")(hidden)
    return logits, final_states


def build_model(config: Config, assets: Assets) -> keras.Model:
    """The compiled training model over token ids (stateful with sequential batching)."""
    stateful = config.batching == "sequential" and cells.is_recurrent(config.cell)
    shape = {"batch_shape": (config.batch_size, None)} if stateful else {"shape": (None,)}
    token_ids = keras.Input(**shape, dtype="int32", name="token_ids")
    logits, _ = network(token_ids, config, assets.vocabulary, stateful=stateful)
    model = keras.Model(token_ids, logits, name=f"generation_{config.cell}")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=make_language_model_optimizer(config, assets), loss=loss)
    return model


def build_step_model(config: Config, assets: Assets, weights_from: keras.Model | None = None) -> keras.Model:
    """The stateless model with the state in and out: [token_ids, *states] -> [logits, *states].

    With `weights_from` (a trained model of the same config) it takes that model's weights.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    states = [keras.Input(shape=(width,), name=f"state_{index}") for index, width in enumerate(state_shapes(config))]
    logits, final_states = network(token_ids, config, assets.vocabulary, states=states)
    step_model = keras.Model([token_ids, *states], [logits, *final_states], name="step_model")
    if weights_from is not None:
        step_model.set_weights(weights_from.get_weights())
    return step_model


def make_language_model_optimizer(config: Config, assets: Assets) -> keras.optimizers.Optimizer:
    """Adam as every task trains, or SGD at `learning_rate` for `decay_after` epochs and then
    multiplied by `lr_decay` every epoch (Zaremba et al. 2014), both clipped by global norm."""
    if config.optimizer == "adam":
        return make_optimizer(config)
    steps = training_steps(config, assets.train_tokens)
    rates = [
        config.learning_rate * config.lr_decay ** max(0, epoch - config.decay_after + 1)
        for epoch in range(config.epochs)
    ]
    # Optimizer steps count from 0: step steps * epoch is the first of that epoch.
    boundaries = [steps * epoch - 1 for epoch in range(1, config.epochs)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, rates) if boundaries else rates[0]
    return keras.optimizers.SGD(learning_rate=schedule, global_clipnorm=config.clipnorm or None)
