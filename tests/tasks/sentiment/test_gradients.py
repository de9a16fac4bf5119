"""Gradient flow: dL/dh_t by the probe is the true gradient, it decays where it must, and
`main.py gradients` writes its figure and table or stops with a one-line error."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.sentiment.gradients import hidden_state_gradients, make_passages, norms_by_distance, split_at_recurrence
from tests.helpers import run_cli
from tests.tasks.sentiment.toy import review_rows, write_csv

CELLS = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)


def tiny_classifier(layer, vocabulary=20, width=5):
    """Sentiment's shape in miniature: embedding -> dropout -> RNN (last state) -> dropout -> softmax."""
    ids = keras.Input((None,), dtype="int32")
    hidden = keras.layers.Dropout(0.5)(keras.layers.Embedding(vocabulary, width, mask_zero=True)(ids))
    hidden = keras.layers.Dropout(0.5)(layer(hidden))
    return keras.Model(ids, keras.layers.Dense(2, activation="softmax")(hidden))


def toy_batch(steps=7, examples=3, seed=0):
    ids = np.random.default_rng(seed).integers(1, 20, (examples, steps))
    return tf.constant(ids, tf.int32), tf.constant(np.arange(examples) % 2, tf.int32)


def summed_loss(hidden, after, labels):
    """The examples' summed loss from the recurrent layer's last state on."""
    for layer in after:
        hidden = layer(hidden, training=False)
    return tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, hidden))


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.__name__)
def test_the_stepped_cell_computes_what_the_model_computes(cell):
    keras.utils.set_random_seed(0)
    model = tiny_classifier(cell(6))
    token_ids, labels = toy_batch()
    gradients, probabilities = hidden_state_gradients(model, token_ids, labels)
    np.testing.assert_allclose(probabilities.numpy(), model(token_ids).numpy(), atol=1e-6)
    assert gradients.shape == (3, 7, 6)


@pytest.mark.parametrize("cell", (keras.layers.GRU, keras.layers.LSTM), ids=lambda cell: cell.__name__)
def test_probe_gradient_equals_finite_differences_through_the_keras_layer(cell):
    # Independent of the stepped loop: Keras's own RNN layer runs steps 1..t, the state
    # h_t is nudged, and the layer runs on from it with the nudged state.
    keras.utils.set_random_seed(1)
    model = tiny_classifier(cell(4))
    token_ids, labels = toy_batch(steps=6, examples=2)
    gradients, _ = hidden_state_gradients(model, token_ids, labels)
    before, recurrent, after = split_at_recurrence(model)
    inputs = before[1](before[0](token_ids), training=False)
    runner = keras.layers.RNN(recurrent.cell, return_state=True)
    epsilon = 1e-2
    for step in (0, 3, 5):
        head, *states = runner(inputs[:, : step + 1])
        for unit in range(4):
            losses = []
            for sign in (1, -1):
                nudged = [states[0] + sign * epsilon * tf.one_hot([unit, unit], 4), *states[1:]]
                rest = inputs[:, step + 1 :]
                final = runner(rest, initial_state=nudged)[0] if rest.shape[1] else nudged[0]
                losses.append(float(summed_loss(final, after, labels)))
            estimate = (losses[0] - losses[1]) / (2 * epsilon)
            assert estimate == pytest.approx(float(tf.reduce_sum(gradients[:, step, unit])), rel=2e-2, abs=2e-4)


def test_linear_simple_rnn_gradient_is_the_recurrent_kernel_applied_backwards():
    # h_t = x_t W + h_(t-1) U + b, so dL/dh_(t-1) = dL/dh_t U^T, from dL/dh_T at the head.
    keras.utils.set_random_seed(2)
    model = tiny_classifier(keras.layers.SimpleRNN(5, activation=None))
    token_ids, labels = toy_batch(steps=8)
    gradients, _ = hidden_state_gradients(model, token_ids, labels)
    before, recurrent, after = split_at_recurrence(model)
    last = tf.Variable(recurrent(before[1](before[0](token_ids), training=False)))
    with tf.GradientTape() as tape:
        loss = summed_loss(last, after, labels)
    expected = tape.gradient(loss, last).numpy()
    kernel = recurrent.cell.recurrent_kernel.numpy()
    for step in reversed(range(8)):
        np.testing.assert_allclose(gradients[:, step].numpy(), expected, rtol=1e-4, atol=1e-6)
        expected = expected @ kernel.T


def test_small_recurrent_weights_make_the_gradient_vanish_with_distance():
    keras.utils.set_random_seed(3)
    layer = keras.layers.SimpleRNN(6, recurrent_initializer=keras.initializers.Orthogonal(gain=0.3))
    model = tiny_classifier(layer)
    token_ids, labels = toy_batch(steps=12, examples=4)
    curve, scores = norms_by_distance(model, [(token_ids, labels)])
    assert curve.shape == (12,)  # one value per distance 0..T-1
    assert np.all(np.diff(curve) < 0)  # shrinks with every step back
    assert curve[-1] / curve[0] < 1e-4
    assert 0 <= scores["accuracy"] <= 1 and scores["loss"] > 0


def test_passages_have_one_length_and_one_class():
    ids = [[1] * 3, [2] * 2, [3] * 9, [4] * 4, [5] * 2]
    passages, labels = make_passages(ids, np.array([0, 0, 1, 0, 0]), length=5, seed=0)
    rows = sorted(map(tuple, passages.tolist()))
    # Short texts of class 0 are joined; class 1's long text gives its first 5 tokens.
    assert rows == [(1, 1, 1, 2, 2), (3, 3, 3, 3, 3), (4, 4, 4, 4, 5)]
    assert sorted(labels.tolist()) == [0, 0, 1]


def test_command_writes_the_figure_and_the_table(tmp_path, isolated_runs, capsys):
    data = write_csv(tmp_path / "reviews.csv", review_rows(300))
    options = ["length=10", "steps=3", "batches=1", "units=4", "embedding_dim=4", "batch_size=8"]
    assert run_cli("gradients", "sentiment", f"dataset={data}", "cells=simple_rnn,lstm", *options) == 0
    (folder,) = [path for path in (isolated_runs / "sentiment").iterdir() if not path.name.startswith(".")]
    assert folder.name.startswith("gradients-")
    assert not list((isolated_runs / "sentiment" / ".incomplete").iterdir())
    assert (folder / "gradient_flow.png").stat().st_size > 10_000
    with open(folder / "gradient_flow.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 3 * 10  # cells x (init, clipped, unclipped) x distances
    assert {row["cell"] for row in rows} == {"simple_rnn", "lstm"}
    table = (folder / "gradients.md").read_text()
    assert "| lstm | unclipped |" in table and "| 0 back | 1 back |" in table
    printed = capsys.readouterr().out
    assert "simple_rnn: ||dL/dh||" in printed and "lstm: ||dL/dh||" in printed


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["sentimant"], "unknown task 'sentimant'"),
        (["tagging"], "not tagging"),
        (["sentiment", "cells=gru,lstmm"], "unknown cell 'lstmm'"),
        (["sentiment", "cells=none"], "cell 'none' has no recurrent state"),
        (["sentiment", "cell=gru"], "cells=a,b,c"),
        (["sentiment", "stepz=3"], "unknown option 'stepz' for gradients"),
        (["sentiment", "bidirectional=true"], "leave bidirectional at False"),
        (["sentiment", "clipnorm=0"], "clipnorm must be above 0"),
    ],
)
def test_bad_options_are_one_line_errors(arguments, message, capsys, isolated_runs):
    assert run_cli("gradients", *arguments) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error
    assert not isolated_runs.exists()


def test_clipped_and_unclipped_differ_only_in_the_clipping(tmp_path):
    # Same initial weights, batches, dropout masks and update path: a clipnorm that no
    # step reaches gives exactly the unclipped curves, so a difference is the clipping's.
    from common import runtime
    from tasks import get_task
    from tasks.sentiment.gradients import NEVER_CLIPS, measure_cell, parse_options, task_passages

    task = get_task("sentiment")
    data = write_csv(tmp_path / "reviews.csv", review_rows(200))
    overrides = [f"dataset={data}", "length=8", "steps=4", "batches=1", "units=4", "embedding_dim=4", "batch_size=8"]
    options, config = parse_options(task, [*overrides, f"clipnorm={NEVER_CLIPS / 10}"])
    config = runtime.prepare(task, config)
    assets, passages = task_passages(task, config, options.length)
    result = measure_cell(task, config, "gru", assets, passages, options)
    np.testing.assert_array_equal(result["curves"]["clipped"], result["curves"]["unclipped"])
    assert result["training"]["clipped"] == result["training"]["unclipped"]
    assert not np.array_equal(result["curves"]["init"], result["curves"]["clipped"])  # it did train
