"""Two cells from the lectures, written from their equations as Keras RNN cells.

Each is a `keras.layers.Layer` with `state_size` and `output_size`, run over time by
`keras.layers.RNN`, which brings masking, `return_state`, `stateful`, `Bidirectional`
and saving. `common.cells` builds them for `cell=peephole_lstm` and `cell=leaky_rnn`.
Neither runs on the cuDNN kernel: Keras runs them step by step in a `while_loop`.

Weights are laid out as in Keras' own cells (one fused kernel, gates in Keras' order),
so a Keras LSTM's or SimpleRNN's weights copy straight across; the tests use that to
check the equations.
"""

import keras
from keras import ops

# Keras' own per-sequence dropout masks: `keras.layers.RNN` draws them once per batch and
# resets them only for cells of this class. It is not part of the public API.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell


class _InputDropoutCell(keras.layers.Layer, DropoutRNNCell):
    """Shared by both cells: input dropout with one mask per sequence (as Keras' cells do),
    no recurrent dropout, and the usual initializers of Keras' recurrent layers."""

    def __init__(self, units: int, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dropout = dropout
        self.recurrent_dropout = 0.0  # the mixin reads it; recurrent dropout is not offered
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def dropped_inputs(self, inputs, training):
        mask = self.get_dropout_mask(inputs)
        return inputs * mask if training and mask is not None else inputs

    def add_input_weights(self, input_width: int, gates: int):
        """kernel (inputs -> gates), recurrent_kernel (h -> gates) and bias, as Keras names them."""
        width = gates * self.units
        self.kernel = self.add_weight(shape=(input_width, width), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width), initializer="orthogonal", name="recurrent_kernel"
        )

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.dropout, "seed": self.seed}


@keras.saving.register_keras_serializable(package="rnn_suite")
class PeepholeLSTMCell(_InputDropoutCell):
    """LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also read the cell.

        i_t = sigmoid(W_i x_t + U_i h_{t-1} + p_i * c_{t-1} + b_i)
        f_t = sigmoid(W_f x_t + U_f h_{t-1} + p_f * c_{t-1} + b_f)
        c_t = f_t * c_{t-1} + i_t * tanh(W_c x_t + U_c h_{t-1} + b_c)
        o_t = sigmoid(W_o x_t + U_o h_{t-1} + p_o * c_t + b_o)
        h_t = o_t * tanh(c_t)

    The peephole weights p are diagonal (one per unit) and start at zero, so the cell
    starts as a plain LSTM and learns how much each gate reads the cell. The forget bias
    starts at 1, as in Keras' LSTM (`unit_forget_bias`). States: [h, c].
    """

    def __init__(self, units: int, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(units, dropout, seed, **kwargs)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.add_input_weights(input_shape[-1], gates=4)
        self.bias = self.add_weight(shape=(4 * self.units,), initializer=self.bias_initializer, name="bias")
        peephole = {"shape": (self.units,), "initializer": "zeros"}
        self.input_peephole = self.add_weight(**peephole, name="input_peephole")
        self.forget_peephole = self.add_weight(**peephole, name="forget_peephole")
        self.output_peephole = self.add_weight(**peephole, name="output_peephole")

    def bias_initializer(self, shape, dtype=None):
        """Zeros but for the forget gate's slice, which starts at 1 (remember by default)."""
        units = self.units
        return ops.cast(ops.concatenate([ops.zeros((units,)), ops.ones((units,)), ops.zeros((2 * units,))]), dtype)

    def call(self, inputs, states, training=False):
        h_previous, c_previous = states
        inputs = self.dropped_inputs(inputs, training)
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_previous, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)  # Keras' gate order: input, forget, cell, output
        input_gate = ops.sigmoid(z_i + self.input_peephole * c_previous)
        forget_gate = ops.sigmoid(z_f + self.forget_peephole * c_previous)
        c = forget_gate * c_previous + input_gate * ops.tanh(z_c)
        output_gate = ops.sigmoid(z_o + self.output_peephole * c)  # reads the new cell c_t
        h = output_gate * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="rnn_suite")
class LeakyRNNCell(_InputDropoutCell):
    """The leaky (exponentially smoothed) unit:

        h_t = (1 - alpha) * h_{t-1} + alpha * tanh(W x_t + U h_{t-1} + b)

    `alpha=None` (the default, what `cell=leaky_rnn` builds) learns one rate per unit,
    alpha = sigmoid(a) so it stays in (0, 1), starting at 0.5: each unit learns its own
    time scale (small alpha: slow, long memory; alpha near 1: a plain SimpleRNN unit).
    A number fixes alpha for every unit (alpha=1 is exactly Keras' SimpleRNN). States: [h].
    """

    def __init__(self, units: int, alpha: float | None = None, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(units, dropout, seed, **kwargs)
        if alpha is not None and not 0 < alpha <= 1:
            raise ValueError(f"alpha={alpha}: a leaky unit's rate must be in (0, 1]")
        self.alpha = alpha
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.add_input_weights(input_shape[-1], gates=1)
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        if self.alpha is None:
            # sigmoid(0) = 0.5: every unit starts halfway between keeping and replacing h.
            self.rate_logit = self.add_weight(shape=(self.units,), initializer="zeros", name="rate_logit")

    def rate(self):
        """alpha per unit: the fixed value, or sigmoid of the learned logit."""
        return self.alpha if self.alpha is not None else ops.sigmoid(self.rate_logit)

    def call(self, inputs, states, training=False):
        h_previous = states[0] if isinstance(states, (list, tuple)) else states
        inputs = self.dropped_inputs(inputs, training)
        candidate = ops.tanh(
            ops.matmul(inputs, self.kernel) + ops.matmul(h_previous, self.recurrent_kernel) + self.bias
        )
        alpha = self.rate()
        h = (1 - alpha) * h_previous + alpha * candidate
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}
