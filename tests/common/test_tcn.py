"""The temporal convolution network: causal, its receptive field as stated, blind to
padding in either direction, and used as a recurrent layer is."""

import keras
import numpy as np
import pytest

from common import tcn

FEATURES, UNITS = 3, 4


def network(levels=2, **options):
    layer = tcn.TemporalConvNet(UNITS, levels, return_sequences=True, **options)
    layer(np.zeros((1, 5, FEATURES), "float32"))
    return layer


def positive(layer):
    """Positive weights and inputs keep every ReLU open, so each tap shows in the output."""
    layer.set_weights([np.abs(weight) + 0.1 for weight in layer.get_weights()])
    return layer


def test_receptive_field_follows_the_formula():
    assert [tcn.receptive_field(levels) for levels in range(1, 7)] == [5, 13, 29, 61, 125, 253]
    assert tcn.receptive_field(2, kernel_size=2) == 7 and tcn.receptive_field(2, num_layers=2) == 25
    assert [tcn.levels_to_cover(context) for context in (1, 24, 29, 30, 100, 200)] == [1, 3, 3, 4, 5, 6]


def test_outputs_see_exactly_the_receptive_field_and_never_the_future():
    layer = positive(network(levels=2))  # receptive field 13
    inputs = np.random.default_rng(0).uniform(0.5, 1.0, size=(1, 20, FEATURES)).astype("float32")
    base = layer(inputs).numpy()

    def changed_outputs(position):
        moved = inputs.copy()
        moved[0, position] += 1.0
        return np.flatnonzero(np.any(layer(moved).numpy()[0] != base[0], axis=-1))

    # A change at step 5 reaches steps 5 .. 5 + 12 and nothing before.
    np.testing.assert_array_equal(changed_outputs(5), np.arange(5, 18))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_reaches_real_steps(bidirectional):
    layer = network(levels=2, bidirectional=bidirectional)
    real = np.random.default_rng(1).normal(size=(1, 4, FEATURES)).astype("float32")
    alone = layer(real, mask=np.ones((1, 4), bool)).numpy()
    for padding in (1, 7):
        junk = np.random.default_rng(padding).normal(size=(1, padding, FEATURES)).astype("float32")
        padded = np.concatenate([real, junk], axis=1)
        mask = np.arange(4 + padding)[np.newaxis] < 4
        outputs = layer(padded, mask=mask).numpy()
        np.testing.assert_allclose(outputs[:, :4], alone, atol=1e-6)
        assert np.all(outputs[:, 4:] == 0)


def test_the_backward_direction_is_the_forward_one_on_the_reversed_row():
    layer = network(levels=2, bidirectional=True)
    inputs = np.random.default_rng(2).normal(size=(1, 6, FEATURES)).astype("float32")
    backward = layer(inputs).numpy()[..., UNITS:]
    forward_only = tcn.run_blocks(layer.backward_blocks, inputs[:, ::-1], None, False).numpy()
    np.testing.assert_allclose(backward, forward_only[:, ::-1], atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_state_is_each_rows_last_real_step(bidirectional):
    layer = tcn.TemporalConvNet(UNITS, 2, return_sequences=True, return_state=True, bidirectional=bidirectional)
    inputs = np.random.default_rng(3).normal(size=(2, 5, FEATURES)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    sequences, *states = [value.numpy() for value in layer(inputs, mask=mask)]
    assert len(states) == (2 if bidirectional else 1)
    np.testing.assert_allclose(states[0], [sequences[0, 4, :UNITS], sequences[1, 1, :UNITS]], atol=1e-6)
    if bidirectional:
        np.testing.assert_allclose(states[1], sequences[:, 0, UNITS:], atol=1e-6)
    vector = tcn.TemporalConvNet(UNITS, 2, bidirectional=bidirectional)
    vector.build(inputs.shape)
    vector.set_weights(layer.get_weights())
    np.testing.assert_allclose(vector(inputs, mask=mask), np.concatenate(states, axis=-1), atol=1e-6)


def test_the_mask_flows_on_only_with_sequences():
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(9, FEATURES, mask_zero=True)(inputs)
    assert tcn.TemporalConvNet(UNITS, 1, return_sequences=True)(embedded)._keras_mask is not None
    assert getattr(tcn.TemporalConvNet(UNITS, 1)(embedded), "_keras_mask", None) is None


def test_a_wider_input_is_projected_for_the_residual_and_an_equal_one_is_not():
    layer = network(levels=2)
    first, second = layer.forward_blocks
    assert first.projection is not None and second.projection is None


def test_spatial_dropout_acts_only_in_training():
    layer = network(levels=1, dropout=0.5)
    inputs = np.ones((2, 6, FEATURES), "float32")
    np.testing.assert_array_equal(layer(inputs, training=False), layer(inputs))
    assert not np.allclose(layer(inputs, training=True), layer(inputs))
