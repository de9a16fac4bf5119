"""The cells' equations, written again in NumPy and checked against the layers.

Keras' own SimpleRNN, GRU (reset_after) and LSTM check the references; the references
then check the lectures' cells, which must also reduce to Keras' cells where the
equations say so (zero peepholes: an LSTM; alpha=1: a SimpleRNN)."""

import keras
import numpy as np
import pytest

from common.recurrent_cells import LeakyRNNCell, PeepholeLSTMCell

BATCH, TIME, FEATURES, UNITS = 3, 6, 5, 4
# Right-padded rows of 6, 4 and 2 real steps.
MASK = np.arange(TIME)[np.newaxis] < np.array([[6], [4], [2]])


def sigmoid(values):
    return 1 / (1 + np.exp(-values))


def random_inputs(seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, TIME, FEATURES)).astype("float32")


def randomize(layer, seed=1):
    """Random values for every weight (biases and peepholes too), so that each term counts."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.5, size=weight.shape).astype("float32") for weight in layer.get_weights()])


def run_reference(step, inputs, mask, state_widths):
    """Apply `step(x_t, states) -> states` over time; a masked step keeps the states, as
    Keras does. Returns (the first state at every step, the final states)."""
    states = [np.zeros((len(inputs), width)) for width in state_widths]
    outputs = []
    for time in range(inputs.shape[1]):
        new_states = step(inputs[:, time].astype("float64"), states)
        keep = mask[:, time : time + 1]
        states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
        outputs.append(states[0])
    return np.stack(outputs, axis=1), states


def simple_rnn_step(kernel, recurrent_kernel, bias):
    def step(x, states):
        return [np.tanh(x @ kernel + states[0] @ recurrent_kernel + bias)]

    return step


def gru_step(kernel, recurrent_kernel, bias):
    """Keras' GRU with reset_after=True: gates z, r, h; separate input and recurrent biases."""
    input_bias, recurrent_bias = bias

    def step(x, states):
        (h,) = states
        x_z, x_r, x_h = np.split(x @ kernel + input_bias, 3, axis=-1)
        h_z, h_r, h_h = np.split(h @ recurrent_kernel + recurrent_bias, 3, axis=-1)
        z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
        candidate = np.tanh(x_h + r * h_h)
        return [z * h + (1 - z) * candidate]

    return step


def lstm_step(kernel, recurrent_kernel, bias, peepholes=(0.0, 0.0, 0.0)):
    """Keras' LSTM (gates i, f, c, o); with `peepholes` (p_i, p_f, p_o), Gers & Schmidhuber's."""
    p_i, p_f, p_o = peepholes

    def step(x, states):
        h, c = states
        z_i, z_f, z_c, z_o = np.split(x @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
        i, f = sigmoid(z_i + p_i * c), sigmoid(z_f + p_f * c)
        c = f * c + i * np.tanh(z_c)
        o = sigmoid(z_o + p_o * c)
        return [o * np.tanh(c), c]

    return step


def leaky_step(kernel, recurrent_kernel, bias, alpha):
    def step(x, states):
        (h,) = states
        return [(1 - alpha) * h + alpha * np.tanh(x @ kernel + h @ recurrent_kernel + bias)]

    return step


def run_layer(layer, inputs=None):
    """(outputs at every step, final states) of a layer built with return_sequences and return_state."""
    outputs, *states = layer(random_inputs() if inputs is None else inputs, mask=MASK)
    return outputs.numpy(), [state.numpy() for state in states]


def assert_same(layer_results, reference_results):
    (outputs, states), (expected_outputs, expected_states) = layer_results, reference_results
    np.testing.assert_allclose(outputs[MASK], expected_outputs[MASK], atol=1e-5)  # real steps only
    for state, expected in zip(states, expected_states):
        np.testing.assert_allclose(state, expected, atol=1e-5)


def built(layer):
    layer(random_inputs())
    randomize(layer)
    return layer


KERAS_LAYERS = {
    "simple_rnn": (keras.layers.SimpleRNN, simple_rnn_step, 1),
    "gru": (keras.layers.GRU, gru_step, 1),
    "lstm": (keras.layers.LSTM, lstm_step, 2),
}


@pytest.mark.parametrize("name", KERAS_LAYERS)
def test_the_numpy_equations_are_keras_cells(name):
    layer_class, step, states = KERAS_LAYERS[name]
    layer = built(layer_class(UNITS, return_sequences=True, return_state=True))
    reference = run_reference(step(*layer.get_weights()), random_inputs(), MASK, [UNITS] * states)
    assert_same(run_layer(layer), reference)


def test_peephole_lstm_follows_its_equations():
    layer = built(keras.layers.RNN(PeepholeLSTMCell(UNITS), return_sequences=True, return_state=True))
    kernel, recurrent_kernel, bias, p_i, p_f, p_o = layer.get_weights()
    step = lstm_step(kernel, recurrent_kernel, bias, (p_i, p_f, p_o))
    assert_same(run_layer(layer), run_reference(step, random_inputs(), MASK, [UNITS, UNITS]))


def test_peephole_lstm_without_peepholes_is_the_keras_lstm():
    lstm = built(keras.layers.LSTM(UNITS, return_sequences=True, return_state=True))
    peephole = built(keras.layers.RNN(PeepholeLSTMCell(UNITS), return_sequences=True, return_state=True))
    peephole.set_weights([*lstm.get_weights(), *[np.zeros(UNITS, "float32")] * 3])
    assert_same(run_layer(peephole), run_layer(lstm))


def test_peephole_weights_start_at_zero_and_the_forget_bias_at_one():
    layer = keras.layers.RNN(PeepholeLSTMCell(UNITS))
    layer(random_inputs())
    cell = layer.cell
    assert not any(
        np.any(weight.numpy()) for weight in (cell.input_peephole, cell.forget_peephole, cell.output_peephole)
    )
    np.testing.assert_array_equal(np.split(cell.bias.numpy(), 4), [[0] * UNITS, [1] * UNITS, [0] * UNITS, [0] * UNITS])


def test_leaky_unit_with_a_learned_rate_follows_its_equation():
    layer = built(keras.layers.RNN(LeakyRNNCell(UNITS), return_sequences=True, return_state=True))
    kernel, recurrent_kernel, bias, rate_logit = layer.get_weights()
    step = leaky_step(kernel, recurrent_kernel, bias, sigmoid(rate_logit))
    assert_same(run_layer(layer), run_reference(step, random_inputs(), MASK, [UNITS]))


def test_leaky_unit_starts_halfway_and_keeps_a_fixed_rate_when_given_one():
    learned = keras.layers.RNN(LeakyRNNCell(UNITS))
    learned(random_inputs())
    np.testing.assert_allclose(learned.cell.rate().numpy(), 0.5)
    fixed = built(keras.layers.RNN(LeakyRNNCell(UNITS, alpha=0.3), return_sequences=True, return_state=True))
    assert len(fixed.get_weights()) == 3  # no rate to learn
    step = leaky_step(*fixed.get_weights(), alpha=0.3)
    assert_same(run_layer(fixed), run_reference(step, random_inputs(), MASK, [UNITS]))
    with pytest.raises(ValueError, match="must be in"):
        LeakyRNNCell(UNITS, alpha=0.0)


def test_leaky_unit_with_alpha_one_is_the_keras_simple_rnn():
    simple = built(keras.layers.SimpleRNN(UNITS, return_sequences=True, return_state=True))
    leaky = built(keras.layers.RNN(LeakyRNNCell(UNITS, alpha=1.0), return_sequences=True, return_state=True))
    leaky.set_weights(simple.get_weights())
    assert_same(run_layer(leaky), run_layer(simple))


@pytest.mark.parametrize("cell_class", [PeepholeLSTMCell, LeakyRNNCell])
def test_input_dropout_uses_one_mask_per_sequence_and_only_in_training(cell_class):
    layer = built(keras.layers.RNN(cell_class(UNITS, dropout=0.5, seed=3), return_sequences=True))
    constant = np.ones((BATCH, TIME, FEATURES), "float32")
    np.testing.assert_array_equal(layer(constant, training=False), layer(constant))
    assert not np.allclose(layer(constant, training=True), layer(constant))


@pytest.mark.parametrize("cell", [PeepholeLSTMCell(UNITS, dropout=0.1), LeakyRNNCell(UNITS, alpha=0.25)])
def test_config_round_trips(cell):
    again = type(cell).from_config(cell.get_config())
    assert again.get_config() == cell.get_config()
