"""A temporal convolution network (Bai, Kolter & Koltun 2018), the lectures' convolutional
answer to an RNN: `common.cells` builds it for `cell=tcn`.

A level is a residual block of two causal, dilated 1-D convolutions, each followed by a
ReLU and spatial dropout; the input is added back (through a 1x1 convolution where the
widths differ) before a last ReLU. Level l dilates by 2^l, so the receptive field grows
exponentially with depth:

    receptive field = 1 + 2 (kernel_size - 1) (2^levels - 1)   (kernel 3: 5, 13, 29, 61, 125, 253)

Bai et al. also normalise the weights; Keras has no weight normalisation built in, and
the suite clips gradients instead.

The layer mimics a Keras RNN layer so tasks use it unchanged: `return_sequences`,
`return_state` (the "state" is the output at each row's last real step, as a recurrent
layer's final h; it can start a decoder but cannot be fed back as an initial state) and
`bidirectional` (a second causal TCN reads the sequence reversed: the mirrored,
non-causal variant, as a bidirectional RNN is). Inputs are right-padded with a mask;
every convolution's input is zeroed at masked steps, so padding is exactly the zeros a
causal convolution pads with: a right-padded row's real steps never see its padding, and
a left-padded one (the reversed direction) computes what the row alone computes.
"""

import keras
from keras import ops

KERNEL_SIZE = 3


def receptive_field(levels: int, kernel_size: int = KERNEL_SIZE, num_layers: int = 1) -> int:
    """How many steps (the current one included) one output of `num_layers` stacked TCNs sees."""
    return 1 + num_layers * 2 * (kernel_size - 1) * (2**levels - 1)


def levels_to_cover(context: int, kernel_size: int = KERNEL_SIZE) -> int:
    """The fewest levels whose receptive field is at least `context` steps."""
    levels = 1
    while receptive_field(levels, kernel_size) < context:
        levels += 1
    return levels


@keras.saving.register_keras_serializable(package="rnn_suite")
class TemporalBlock(keras.layers.Layer):
    """One level: causal dilated conv -> ReLU -> dropout, twice, plus the residual path."""

    def __init__(self, filters: int, kernel_size: int, dilation: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.dilation, self.dropout = filters, kernel_size, dilation, dropout
        convolution = {"padding": "causal", "dilation_rate": dilation, "activation": "relu"}
        self.first = keras.layers.Conv1D(filters, kernel_size, **convolution, name="first")
        self.second = keras.layers.Conv1D(filters, kernel_size, **convolution, name="second")
        # Spatial dropout (whole channels), as Bai et al. use.
        self.first_dropout = keras.layers.SpatialDropout1D(dropout)
        self.second_dropout = keras.layers.SpatialDropout1D(dropout)
        self.projection = None
        self.supports_masking = True  # the mask arrives as `keep`; Keras may also attach it

    def build(self, input_shape):
        self.first.build(input_shape)
        self.second.build((*input_shape[:-1], self.filters))
        if input_shape[-1] != self.filters:
            self.projection = keras.layers.Conv1D(self.filters, 1, name="projection")
            self.projection.build(input_shape)

    def call(self, inputs, keep=None, training=None):
        """`keep` is 1.0 at real steps and 0.0 at padding, [batch, time, 1] (None: all real)."""
        inputs = zero_padding(inputs, keep)
        hidden = zero_padding(self.first_dropout(self.first(inputs), training=training), keep)
        hidden = self.second_dropout(self.second(hidden), training=training)
        residual = self.projection(inputs) if self.projection is not None else inputs
        return zero_padding(ops.relu(hidden + residual), keep)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, dilation=self.dilation)
        config["dropout"] = self.dropout
        return config


def zero_padding(values, keep):
    """`values` with padded steps set to zero (unchanged when there is no mask)."""
    return values if keep is None else values * keep


@keras.saving.register_keras_serializable(package="rnn_suite")
class TemporalConvNet(keras.layers.Layer):
    """`levels` temporal blocks with dilations 1, 2, 4, ..., `units` channels wide; used as
    a recurrent layer is (see the module's docstring). With `bidirectional` the outputs of
    the forward and the reversed TCN are concatenated (2 * units wide)."""

    def __init__(
        self,
        units: int,
        levels: int,
        kernel_size: int = KERNEL_SIZE,
        dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        bidirectional: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units, self.levels, self.kernel_size, self.dropout = units, levels, kernel_size, dropout
        self.return_sequences, self.return_state, self.bidirectional = return_sequences, return_state, bidirectional
        self.supports_masking = True
        self.forward_blocks = self.make_blocks("forward")
        self.backward_blocks = self.make_blocks("backward") if bidirectional else []

    def make_blocks(self, direction: str) -> list:
        return [
            TemporalBlock(self.units, self.kernel_size, 2**level, self.dropout, name=f"{direction}_{level + 1}")
            for level in range(self.levels)
        ]

    @property
    def receptive_field(self) -> int:
        """Steps one output sees (in each direction when bidirectional)."""
        return receptive_field(self.levels, self.kernel_size)

    def build(self, input_shape):
        for blocks in (self.forward_blocks, self.backward_blocks):
            shape = input_shape
            for block in blocks:
                block.build(shape)
                shape = block.compute_output_shape(shape)

    def call(self, inputs, mask=None, training=None):
        keep = None if mask is None else ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        forward = run_blocks(self.forward_blocks, inputs, keep, training)
        sequences, states = [forward], [last_real_step(forward, mask)]
        if self.bidirectional:
            # Reversed, a right-padded row is left-padded, which the zeroed padding makes harmless.
            flipped_keep = None if keep is None else ops.flip(keep, axis=1)
            backward = ops.flip(
                run_blocks(self.backward_blocks, ops.flip(inputs, axis=1), flipped_keep, training), axis=1
            )
            sequences.append(backward)
            states.append(backward[:, 0])  # the backward direction ends at the first step
        output = ops.concatenate(sequences, axis=-1) if self.return_sequences else ops.concatenate(states, axis=-1)
        return [output, *states] if self.return_state else output

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * (2 if self.bidirectional else 1)
        return output_mask

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, levels=self.levels, kernel_size=self.kernel_size, dropout=self.dropout)
        config.update(return_sequences=self.return_sequences, return_state=self.return_state)
        config["bidirectional"] = self.bidirectional
        return config


def run_blocks(blocks, inputs, keep, training):
    for block in blocks:
        inputs = block(inputs, keep=keep, training=training)
    return inputs


def last_real_step(sequences, mask):
    """Each row's output at its last unmasked step (rows are right-padded); the last step
    without a mask."""
    if mask is None:
        return sequences[:, -1]
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    last = ops.one_hot(ops.maximum(lengths - 1, 0), ops.shape(sequences)[1], dtype=sequences.dtype)
    return ops.sum(sequences * ops.expand_dims(last, -1), axis=1)
