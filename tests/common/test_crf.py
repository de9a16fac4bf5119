"""The CRF against brute force: every tag path of tiny inputs enumerated in NumPy."""

import itertools
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import crf

NUM_TAGS = 3
MAX_TIME = 4


def random_problem(seed, batch=5):
    """Random emissions and CRF parameters; lengths 1..MAX_TIME, right-padded."""
    rng = np.random.default_rng(seed)
    emissions = rng.normal(size=(batch, MAX_TIME, NUM_TAGS)).astype("float32")
    transitions = rng.normal(size=(NUM_TAGS, NUM_TAGS)).astype("float32")
    start, end = rng.normal(size=NUM_TAGS).astype("float32"), rng.normal(size=NUM_TAGS).astype("float32")
    lengths = rng.integers(1, MAX_TIME + 1, size=batch)
    lengths[0], lengths[1] = 1, MAX_TIME  # always cover both extremes
    mask = np.arange(MAX_TIME)[None, :] < lengths[:, None]
    # Garbage in padded positions must not matter.
    emissions[~mask] = 1000.0
    return emissions, mask, transitions, start, end, lengths


def path_score(emissions, path, transitions, start, end):
    score = start[path[0]] + end[path[-1]] + sum(emissions[t, tag] for t, tag in enumerate(path))
    return score + sum(transitions[a, b] for a, b in zip(path[:-1], path[1:]))


def all_paths(emissions_row, length, transitions, start, end):
    paths = list(itertools.product(range(NUM_TAGS), repeat=int(length)))
    return paths, np.array([path_score(emissions_row, p, transitions, start, end) for p in paths])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_partition_equals_brute_force(seed):
    emissions, mask, transitions, start, end, lengths = random_problem(seed)
    computed = crf.log_partition(emissions, mask, transitions, start, end).numpy()
    for row, length in enumerate(lengths):
        _, scores = all_paths(emissions[row], length, transitions, start, end)
        expected = np.log(np.sum(np.exp(scores - scores.max()))) + scores.max()
        assert computed[row] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_equals_brute_force(seed):
    emissions, mask, transitions, start, end, lengths = random_problem(seed)
    tags, best_scores = crf.viterbi_decode(emissions, mask, transitions, start, end)
    tags = tags.numpy()
    for row, length in enumerate(lengths):
        paths, scores = all_paths(emissions[row], length, transitions, start, end)
        assert tuple(tags[row, :length]) == paths[int(np.argmax(scores))]
        assert best_scores.numpy()[row] == pytest.approx(scores.max(), abs=1e-4)
        assert np.all(tags[row, length:] == 0)  # padding decodes to 0


def test_log_likelihood_is_normalized_and_matches_brute_force():
    emissions, mask, transitions, start, end, lengths = random_problem(3)
    rng = np.random.default_rng(7)
    tags = rng.integers(0, NUM_TAGS, size=mask.shape)
    computed = crf.log_likelihood(emissions, tags, mask, transitions, start, end).numpy()
    for row, length in enumerate(lengths):
        paths, scores = all_paths(emissions[row], length, transitions, start, end)
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        assert probabilities.sum() == pytest.approx(1.0)
        index = paths.index(tuple(tags[row, :length]))
        assert computed[row] == pytest.approx(np.log(probabilities[index]), abs=1e-4)


def test_layer_trains_config_round_trip_and_gradients_flow():
    layer = crf.CRF(NUM_TAGS, name="crf")
    emissions, mask, *_ = random_problem(4)
    emissions = np.where(mask[..., None], emissions, 0.0).astype("float32")
    tags = np.zeros(mask.shape, dtype="int32")
    assert np.allclose(layer(emissions).numpy(), emissions)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(layer.negative_log_likelihood(emissions, tags, mask))
    gradients = tape.gradient(loss, layer.trainable_variables)
    assert all(gradient is not None and np.isfinite(gradient.numpy()).all() for gradient in gradients)
    clone = crf.CRF.from_config(layer.get_config())
    assert clone.num_tags == NUM_TAGS and clone.name == "crf"


def test_decoding_exports_and_runs_in_a_fresh_process(tmp_path):
    emissions, mask, transitions, start, end, _ = random_problem(5)
    layer = crf.CRF(NUM_TAGS)
    layer.build((None, None, NUM_TAGS))
    layer.set_weights([transitions, start, end])
    module = tf.Module()
    module.layer = layer

    @tf.function(input_signature=[tf.TensorSpec([None, None, NUM_TAGS]), tf.TensorSpec([None, None], tf.bool)])
    def decode(scores, valid):
        tags, _ = layer.decode(scores, valid)
        return {"tags": tags}

    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": decode})
    expected = layer.decode(emissions, mask)[0].numpy().tolist()
    code = (
        "import json, sys, tensorflow as tf\n"
        "data = json.loads(sys.stdin.read())\n"
        f"serving = tf.saved_model.load({str(tmp_path)!r}).signatures['serving_default']\n"
        "out = serving(scores=tf.constant(data['scores']), valid=tf.constant(data['mask']))\n"
        "print(json.dumps(out['tags'].numpy().tolist()))\n"
    )
    payload = json.dumps({"scores": emissions.tolist(), "mask": mask.tolist()})
    result = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_keras_model_ending_in_the_crf_learns_to_tag():
    """Dense emissions + CRF, trained on the negative log-likelihood, learn a sign rule."""
    inputs = keras.Input((None, 2))
    scores = crf.CRF(2)(keras.layers.Dense(2)(inputs))
    model = keras.Model(inputs, scores)
    layer = model.layers[-1]
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 6, 2)).astype("float32")
    labels = (features[..., 0] > 0).astype("int32")
    mask = np.ones(labels.shape, dtype=bool)
    optimizer = keras.optimizers.Adam(0.1)
    for _ in range(60):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(layer.negative_log_likelihood(model(features), labels, mask))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    decoded, _ = layer.decode(model(features), mask)
    assert np.mean(decoded.numpy() == labels) > 0.95
