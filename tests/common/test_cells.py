import keras
import numpy as np
import pytest

from common import cells
from common.errors import UserError


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_shapes_for_every_cell(cell, bidirectional):
    inputs = keras.Input((None, 5))
    outputs = cells.recurrent_stack(inputs, cell, 4, num_layers=2, bidirectional=bidirectional)
    sequences = cells.recurrent_stack(inputs, cell, 4, num_layers=2, bidirectional=bidirectional, return_sequences=True)
    model = keras.Model(inputs, [outputs, sequences])
    last, every = model(np.zeros((3, 7, 5), "float32"))
    width = 8 if bidirectional else 4
    assert last.shape == (3, width) and every.shape == (3, 7, width)


def test_state_count_hides_the_lstm_difference():
    assert [cells.state_count(cell) for cell in ("simple_rnn", "gru", "lstm")] == [1, 1, 2]
    layer = cells.recurrent_layer("lstm", 3, return_state=True)
    outputs = layer(np.zeros((2, 4, 5), "float32"))
    assert len(outputs) == 1 + cells.state_count("lstm")


def test_unknown_cell_is_a_clear_error():
    with pytest.raises(UserError, match="unknown cell 'lstmm'.*gru"):
        cells.recurrent_layer("lstmm", 3)


def test_default_gru_and_lstm_are_cudnn_eligible():
    inputs = keras.Input((None, 5))
    hidden = cells.recurrent_stack(inputs, "gru", 4, num_layers=1, bidirectional=True, return_sequences=True)
    outputs = cells.recurrent_stack(hidden, "lstm", 4, num_layers=1, bidirectional=False)
    layers = cells.recurrent_layers(keras.Model(inputs, outputs))
    assert len(layers) == 3  # forward and backward GRU, one LSTM
    assert all(cells.cudnn_blockers(layer) == [] for layer in layers)


def test_blockers_name_what_turns_cudnn_off():
    assert "recurrent_dropout > 0" in cells.cudnn_blockers(keras.layers.LSTM(3, recurrent_dropout=0.2))
    assert "reset_after=False" in cells.cudnn_blockers(keras.layers.GRU(3, reset_after=False))
    assert "activation is not tanh" in cells.cudnn_blockers(keras.layers.LSTM(3, activation="relu"))


def test_no_recurrence_baseline_ignores_padding():
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, cells.recurrent_stack(embedded, "none", 6))
    padded, unpadded = model(np.array([[3, 4, 0, 0]])), model(np.array([[3, 4]]))
    np.testing.assert_allclose(padded, unpadded, atol=1e-6)


def test_masked_max_pooling_ignores_padding_even_when_values_are_negative():
    values = np.array([[[-3.0, -1.0], [-2.0, -5.0], [0.0, 0.0]]], "float32")  # last step is padding
    mask = np.array([[True, True, False]])
    pooled = cells.MaskedMaxPooling()(values, mask=mask)
    np.testing.assert_allclose(pooled, [[-2.0, -1.0]])


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_sequence_vector_does_not_depend_on_padding(pooling):
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, cells.sequence_vector(embedded, "gru", 3, bidirectional=True, pooling=pooling))
    np.testing.assert_allclose(model(np.array([[3, 4, 0, 0]])), model(np.array([[3, 4]])), atol=1e-6)
