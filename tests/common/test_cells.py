import keras
import numpy as np
import pytest
import tensorflow as tf

from common import cells
from common.errors import UserError

SEQUENCE_CELLS = [*cells.RECURRENT_CELLS, "tcn"]
NEW_CELLS = ["peephole_lstm", "leaky_rnn", "tcn"]


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_shapes_for_every_cell(cell, bidirectional):
    inputs = keras.Input((None, 5))
    options = {"num_layers": 2, "bidirectional": bidirectional, "context": 5}  # tcn: one level per layer
    outputs = cells.recurrent_stack(inputs, cell, 4, **options)
    sequences = cells.recurrent_stack(inputs, cell, 4, return_sequences=True, **options)
    model = keras.Model(inputs, [outputs, sequences])
    last, every = model(np.zeros((3, 7, 5), "float32"))
    width = 8 if bidirectional else 4
    assert last.shape == (3, width) and every.shape == (3, 7, width)


def test_state_count_hides_the_lstm_difference():
    assert [cells.state_count(cell) for cell in SEQUENCE_CELLS] == [1, 1, 2, 2, 1, 1]
    for cell in SEQUENCE_CELLS:
        outputs = cells.recurrent_layer(cell, 3, return_state=True)(np.zeros((2, 4, 5), "float32"))
        assert len(outputs) == 1 + cells.state_count(cell)


@pytest.mark.parametrize("cell", cells.RECURRENT_CELLS)
def test_a_cells_single_step_is_its_layers_first_step(cell):
    """`recurrent_cell` is one step of what `recurrent_layer` runs (same weights)."""
    layer = cells.recurrent_layer(cell, 3, return_sequences=True, return_state=True)
    inputs = np.random.default_rng(0).normal(size=(2, 1, 5)).astype("float32")
    sequence, *states = layer(inputs)
    step = cells.recurrent_cell(cell, 3)
    step.build((None, 5))
    step.set_weights(layer.cell.get_weights())
    zeros = [np.zeros((2, 3), "float32")] * cells.state_count(cell)
    output, new_states = step(inputs[:, 0], zeros)
    np.testing.assert_allclose(output, sequence[:, 0], atol=1e-6)
    assert len(new_states) == len(states)
    with pytest.raises(UserError, match="cell=tcn has no step-by-step cell"):
        cells.recurrent_cell("tcn", 3)


def test_only_recurrent_cells_carry_state():
    assert [cells.is_recurrent(cell) for cell in cells.CELL_NAMES] == [True] * 5 + [False, False]
    with pytest.raises(UserError, match="cell=tcn has no state to carry"):
        cells.recurrent_layer("tcn", 3, stateful=True)
    with pytest.raises(UserError, match="cell=none has no recurrent layer"):
        cells.recurrent_layer("none", 3)


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


def test_only_default_keras_gru_and_lstm_are_cudnn_eligible():
    assert [cell for cell in cells.CELL_NAMES if cells.cudnn_eligible(cell)] == ["gru", "lstm"]
    assert cells.cudnn_blockers(cells.recurrent_layer("peephole_lstm", 3)) == ["PeepholeLSTMCell has no cuDNN kernel"]
    assert cells.cudnn_blockers(cells.recurrent_layer("leaky_rnn", 3)) == ["LeakyRNNCell has no cuDNN kernel"]


@pytest.mark.parametrize(
    "cell, notes",
    [("lstm", {"cudnn": "yes"}), ("leaky_rnn", {"cudnn": "no"}), ("tcn", {"cudnn": "n/a", "receptive_field": 57})],
)
def test_speed_notes_say_cudnn_and_receptive_field(cell, notes):
    inputs = keras.Input((None, 5))
    outputs = cells.recurrent_stack(inputs, cell, 4, num_layers=2, context=20)  # tcn: 2 x 3 levels
    assert cells.speed_notes(keras.Model(inputs, outputs)) == notes


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


@pytest.mark.parametrize("cell", ["gru", *NEW_CELLS])
@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_sequence_vector_does_not_depend_on_padding(cell, pooling):
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, cells.sequence_vector(embedded, cell, 3, bidirectional=True, pooling=pooling))
    np.testing.assert_allclose(model(np.array([[3, 4, 0, 0]])), model(np.array([[3, 4]])), atol=1e-6)


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_states_are_split_by_direction_in_the_cells_order(cell, bidirectional):
    layer = cells.recurrent_layer(cell, 3, return_sequences=True, return_state=True, bidirectional=bidirectional)
    inputs = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    outputs, states = cells.split_outputs_and_states(layer(inputs), cell, bidirectional)
    assert outputs.shape == (2, 4, 6 if bidirectional else 3)
    if bidirectional:
        forward, backward = states
        assert len(forward) == len(backward) == cells.state_count(cell)
        # The forward h is the forward half of the last output; the backward h the backward half of the first.
        np.testing.assert_allclose(forward[0], outputs[:, -1, :3], atol=1e-6)
        np.testing.assert_allclose(backward[0], outputs[:, 0, 3:], atol=1e-6)
    else:
        assert len(states) == cells.state_count(cell)
        np.testing.assert_allclose(states[0], outputs[:, -1], atol=1e-6)


def test_bridge_merges_directions_and_maps_to_the_decoder_width():
    forward = [np.ones((2, 3), "float32"), 2 * np.ones((2, 3), "float32")]
    backward = [3 * np.ones((2, 3), "float32"), 4 * np.ones((2, 3), "float32")]
    merged = cells.merge_directions([forward, backward], bidirectional=True)
    np.testing.assert_array_equal(merged[0][0], [1, 1, 1, 3, 3, 3])
    np.testing.assert_array_equal(merged[1][0], [2, 2, 2, 4, 4, 4])
    assert cells.merge_directions(forward, bidirectional=False) == forward
    lstm_bridge = cells.bridge_layers("lstm", 5)
    assert [state.shape for state in cells.bridge_states(merged, lstm_bridge)] == [(2, 5), (2, 5)]
    # An LSTM encoder (h, c) into a GRU decoder (h): the hidden state h is what is bridged.
    (gru_state,) = cells.bridge_states(merged, cells.bridge_layers("gru", 5))
    assert gru_state.shape == (2, 5)


def test_split_refuses_a_state_count_that_does_not_fit_the_cell():
    with pytest.raises(ValueError, match="returned 1 states"):
        cells.split_outputs_and_states([np.zeros((1, 2)), np.zeros((1, 2))], "lstm")


def stack_model(cell):
    """Token ids -> a two-layer bidirectional stack of `cell` -> one sigmoid output."""
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    hidden = cells.recurrent_stack(embedded, cell, 3, num_layers=2, bidirectional=True, context=8)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_new_cells_save_and_load_from_model_keras(tmp_path, cell):
    model = stack_model(cell)
    ids = np.array([[3, 4, 5, 0], [6, 7, 8, 9]])
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded(ids), model(ids), atol=1e-6)


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_new_cells_train(cell):
    keras.utils.set_random_seed(0)  # a TCN's ReLUs may start dead on some draws: test one fixed draw
    model = stack_model(cell)
    before = [weight.copy() for weight in model.get_weights()]
    with tf.GradientTape() as tape:  # one eager step: compiling a train function is slow on CPU
        predictions = model(np.array([[3, 4, 5, 0], [6, 7, 8, 9]]), training=True)
        loss = keras.losses.binary_crossentropy(np.array([[1.0], [0.0]]), predictions)
    optimizer = keras.optimizers.Adam(0.01)
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    changed = [not np.allclose(old, new) for old, new in zip(before, model.get_weights())]
    assert all(changed)  # every weight, peepholes and leaky rates included, has a gradient
