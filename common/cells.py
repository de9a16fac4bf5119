"""The one place that names the sequence layers: SimpleRNN, GRU and LSTM (Keras' own),
the lectures' peephole LSTM and leaky unit (`common.recurrent_cells`), and the temporal
convolution network (`common.tcn`).

Tasks ask for "a recurrent layer of this cell type" and never branch on the cell:
this module hides the real differences between them (an LSTM carries two states,
hidden and cell; the others carry one; a TCN's "state" is only its last real step) and
keeps Keras' GRU and LSTM cuDNN-eligible by default (default activations,
`recurrent_dropout=0`, `unroll=False`, `use_bias=True`, GRU `reset_after=True`). Inputs
must then be right-padded, as `common.text` makes them. SimpleRNN, the lectures' cells
and the TCN have no cuDNN RNN kernel (`cudnn_eligible`).
"""

import keras

from common import tcn
from common.errors import UserError
from common.recurrent_cells import LeakyRNNCell, PeepholeLSTMCell

CELL_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "gru": keras.layers.GRU,
    "lstm": keras.layers.LSTM,
}
# The lectures' cells, written from their equations and run by `keras.layers.RNN`.
LECTURE_CELLS = {
    "peephole_lstm": PeepholeLSTMCell,
    "leaky_rnn": LeakyRNNCell,
}
RECURRENT_CELLS = (*CELL_LAYERS, *LECTURE_CELLS)
# One step of each, for layers that loop themselves (`recurrent_cell`).
CELL_STEPS = {
    "simple_rnn": keras.layers.SimpleRNNCell,
    "gru": keras.layers.GRUCell,
    "lstm": keras.layers.LSTMCell,
    **LECTURE_CELLS,
}
TCN = "tcn"  # the temporal convolution network baseline: causal dilated convolutions
NO_RECURRENCE = "none"  # the non-recurrent baseline: per-token dense layers, mean-pooled
CELL_NAMES = (*RECURRENT_CELLS, TCN, NO_RECURRENCE)
TWO_STATE_CELLS = ("lstm", "peephole_lstm")
# How far a TCN should see when a task does not say: its levels grow until it covers this.
DEFAULT_CONTEXT = 100


def check_cell(cell: str) -> str:
    """`cell` if it is one of `CELL_NAMES`; else a one-line error listing them."""
    if cell not in CELL_NAMES:
        raise UserError(f"unknown cell {cell!r}; choose one of {', '.join(CELL_NAMES)}")
    return cell


def is_recurrent(cell: str) -> bool:
    """Whether the cell carries a state from step to step (so it can be stateful, start
    from a given state, and decode one step at a time); false for tcn and none."""
    return check_cell(cell) in RECURRENT_CELLS


def state_count(cell: str) -> int:
    """How many state tensors the cell returns: 2 for the LSTMs (h, c), 1 for the others.

    A TCN returns one: its output at the last real step, which can start a decoder as an
    encoder's h does but cannot be carried into the next step."""
    if check_cell(cell) == NO_RECURRENCE:
        raise UserError("cell=none has no recurrent state")
    return 2 if cell in TWO_STATE_CELLS else 1


def cudnn_eligible(cell: str) -> bool:
    """Whether the layer `recurrent_layer` builds for `cell` runs on the cuDNN RNN kernel on
    a GPU: Keras' GRU and LSTM at their default settings. SimpleRNN and the lectures' cells
    run step by step in a loop; a TCN is convolutions, not a cuDNN RNN."""
    if not is_recurrent(cell):
        return False
    return not cudnn_blockers(recurrent_layer(cell, 1))


def recurrent_cell(cell: str, units: int):
    """One step of the cell type, for a layer that runs its own loop (a decoder that feeds
    each step's attention into the next). Called as `cell(inputs, states)`, it returns
    (output, new states) with the states a list in the cell's order. Such a loop has no
    cuDNN kernel."""
    if check_cell(cell) not in RECURRENT_CELLS:
        raise UserError(f"cell={cell} has no step-by-step cell; choose one of {', '.join(RECURRENT_CELLS)}")
    return CELL_STEPS[cell](units)


def recurrent_layer(
    cell: str,
    units: int,
    return_sequences: bool = False,
    return_state: bool = False,
    bidirectional: bool = False,
    dropout: float = 0.0,
    stateful: bool = False,
    context: int = DEFAULT_CONTEXT,
    name: str | None = None,
):
    """A sequence layer of the cell type, optionally reading both directions.

    Keras' layers and the lectures' cells are wrapped in `Bidirectional`; a TCN reads the
    reversed sequence itself, and gets the fewest levels whose receptive field covers
    `context` steps (recurrent cells ignore it). `dropout` applies to the layer inputs
    (a TCN's: after each convolution), which keeps cuDNN; recurrent dropout is
    deliberately not offered because it turns cuDNN off (about 25x slower on GPU).
    """
    if check_cell(cell) == NO_RECURRENCE:
        raise UserError("cell=none has no recurrent layer")
    if cell == TCN:
        if stateful:
            raise UserError("cell=tcn has no state to carry from one batch to the next")
        levels = tcn.levels_to_cover(context)
        return tcn.TemporalConvNet(
            units,
            levels,
            dropout=dropout,
            return_sequences=return_sequences,
            return_state=return_state,
            bidirectional=bidirectional,
            name=name,
        )
    options = {"return_sequences": return_sequences, "return_state": return_state, "stateful": stateful}
    layer_name = None if bidirectional else name
    if cell in CELL_LAYERS:
        layer = CELL_LAYERS[cell](units, dropout=dropout, name=layer_name, **options)
    else:
        layer = keras.layers.RNN(LECTURE_CELLS[cell](units, dropout=dropout), name=layer_name, **options)
    if bidirectional:
        return keras.layers.Bidirectional(layer, name=name)
    return layer


def recurrent_stack(
    inputs,
    cell,
    units,
    num_layers=1,
    bidirectional=False,
    dropout=0.0,
    return_sequences=False,
    name="",
    context=DEFAULT_CONTEXT,
):
    """`num_layers` recurrent layers on top of each other; the mask flows through.

    Inner layers return sequences; the last returns sequences only if asked (else its
    final state, a TCN's last real step). With `cell="tcn"` each layer is a whole TCN
    covering `context` steps (see `recurrent_layer`). With
    `cell="none"` this is the non-recurrent baseline that `compare` measures RNNs
    against: the same depth of per-token dense layers (no information flows between
    positions), mean-pooled over the unmasked positions when one vector is wanted.
    `name` prefixes the layer names (unique names are chosen when it is empty).
    """

    def layer_name(kind, depth):
        return f"{name}_{kind}_{depth + 1}" if name else None

    if cell == NO_RECURRENCE:
        outputs = inputs
        for depth in range(num_layers):
            width = units * (2 if bidirectional else 1)
            outputs = keras.layers.Dense(width, activation="tanh", name=layer_name("dense", depth))(outputs)
        return outputs if return_sequences else keras.layers.GlobalAveragePooling1D()(outputs)
    outputs = inputs
    for depth in range(num_layers):
        last = depth == num_layers - 1
        outputs = recurrent_layer(
            cell,
            units,
            return_sequences=return_sequences or not last,
            bidirectional=bidirectional,
            dropout=dropout,
            context=context,
            name=layer_name(cell, depth),
        )(outputs)
    return outputs


POOLINGS = ("last", "max", "mean")


@keras.saving.register_keras_serializable(package="rnn_suite")
class MaskedMaxPooling(keras.layers.Layer):
    """Max over time of the unmasked steps only (Keras' GlobalMaxPooling1D ignores masks)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1)
            inputs = keras.ops.where(keep, inputs, keras.ops.full_like(inputs, float("-inf")))
        return keras.ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None


def sequence_vector(inputs, cell, units, num_layers=1, bidirectional=False, pooling="last", context=DEFAULT_CONTEXT):
    """One vector per sequence from a recurrent stack: the final state (`last`; a TCN's
    last real step), or the max or mean over every step's output, padding left out."""
    if pooling not in POOLINGS:
        raise UserError(f"pooling={pooling!r}: choose one of {', '.join(POOLINGS)}")
    if pooling == "last":
        return recurrent_stack(inputs, cell, units, num_layers, bidirectional, context=context)
    steps = recurrent_stack(inputs, cell, units, num_layers, bidirectional, return_sequences=True, context=context)
    if pooling == "max":
        return MaskedMaxPooling()(steps)
    return keras.layers.GlobalAveragePooling1D()(steps)


def recurrent_layers(model) -> list:
    """Every recurrent layer (`keras.layers.RNN`: Keras' own and the lectures' cells)
    inside `model`, unwrapping Bidirectional."""
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.RNN)]


def tcn_layers(model) -> list:
    """Every temporal convolution network inside `model`."""
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, tcn.TemporalConvNet)]


def cudnn_blockers(layer) -> list[str]:
    """Reasons `layer` cannot run on the cuDNN kernel (empty when it can).

    Mirrors the checks in Keras' TensorFlow backend (`cudnn_ok` and `inner_loop`); the
    runtime check that masks are right-padded is met by `common.text`. Only Keras' GRU
    and LSTM have a cuDNN kernel.
    """
    if not isinstance(layer, (keras.layers.GRU, keras.layers.LSTM)):
        kind = type(layer).__name__ if isinstance(layer, keras.layers.SimpleRNN) else type(layer.cell).__name__
        return [f"{kind} has no cuDNN kernel"]
    cell = layer.cell
    reasons = []
    if cell.activation is not keras.activations.tanh:
        reasons.append("activation is not tanh")
    if cell.recurrent_activation is not keras.activations.sigmoid:
        reasons.append("recurrent_activation is not sigmoid")
    if cell.recurrent_dropout:
        reasons.append("recurrent_dropout > 0")
    if layer.unroll:
        reasons.append("unroll=True")
    if not cell.use_bias:
        reasons.append("use_bias=False")
    if isinstance(layer, keras.layers.GRU) and not cell.reset_after:
        reasons.append("reset_after=False")
    if layer.use_cudnn is False:
        reasons.append("use_cudnn=False")
    return reasons


def speed_notes(model) -> dict:
    """What a run records next to its speed: `cudnn` ("yes" when every recurrent layer runs
    on the cuDNN kernel, "no", or "n/a" without recurrent layers) and, with TCNs, the
    `receptive_field` of the stack (steps one output sees, per direction). A layer that
    runs its own step loop (`runs_step_by_step = True`) counts as a recurrent layer
    without the cuDNN kernel."""
    layers = recurrent_layers(model)
    if any(getattr(layer, "runs_step_by_step", False) for layer in model._flatten_layers(include_self=False)):
        notes = {"cudnn": "no"}
    else:
        notes = {"cudnn": "n/a" if not layers else "no" if any(map(cudnn_blockers, layers)) else "yes"}
    convolutions = tcn_layers(model)
    if convolutions:
        notes["receptive_field"] = 1 + sum(layer.receptive_field - 1 for layer in convolutions)
    return notes


def split_outputs_and_states(results, cell: str, bidirectional: bool = False):
    """(outputs, states) of a recurrent layer built with `return_state=True`.

    Keras returns one flat list whose length depends on the cell and the wrapper:
    [outputs, h] (SimpleRNN, GRU, leaky, TCN), [outputs, h, c] (the LSTMs), and with
    `Bidirectional` the forward states then the backward ones. `states` comes back as
    [[forward states...], [backward states...]] when bidirectional, else [states...],
    each list in the cell's order (h, or h and c).
    """
    count = state_count(cell)
    outputs, states = results[0], list(results[1:])
    if len(states) != count * (2 if bidirectional else 1):
        raise ValueError(f"a {cell} layer (bidirectional={bidirectional}) returned {len(states)} states")
    if bidirectional:
        return outputs, [states[:count], states[count:]]
    return outputs, states


def merge_directions(states, bidirectional: bool):
    """The encoder -> decoder state bridge's first half: one list of states in the cell's
    order, each forward state concatenated with its backward twin ([h_f; h_b], [c_f; c_b])
    when the encoder is bidirectional (so the list is twice as wide), else unchanged."""
    if not bidirectional:
        return list(states)
    forward, backward = states
    return [keras.ops.concatenate([ahead, behind], axis=-1) for ahead, behind in zip(forward, backward)]


def bridge_layers(decoder_cell: str, units: int, name: str = "bridge"):
    """One Dense layer (tanh) per state of the decoder's cell, mapping merged encoder states
    to a `units`-wide decoder of any cell type."""
    count = state_count(decoder_cell)
    return [keras.layers.Dense(units, activation="tanh", name=f"{name}_{index}") for index in range(count)]


def bridge_states(states, layers):
    """The bridge's second half: encoder states -> the decoder's initial states, through
    `bridge_layers`. Same cell type: each state feeds its own layer (h -> h, c -> c). The
    cells differ in state count (LSTM and GRU, say): the hidden state h feeds every layer,
    since h is the state every cell type has."""
    sources = states if len(states) == len(layers) else [states[0]] * len(layers)
    return [layer(state) for layer, state in zip(layers, sources)]
