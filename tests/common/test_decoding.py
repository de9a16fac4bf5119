"""Decoding against brute force and hand-computed cases, on tiny deterministic step functions."""

import itertools
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import decoding

START, A, B, END = 0, 1, 2, 3
VOCABULARY = 6
UNITS = 8
# What every exported decoding signature takes first: start tokens, state, length.
DECODER_INPUTS = [
    tf.TensorSpec([None], tf.int32, name="start_tokens"),
    tf.TensorSpec([None, UNITS], tf.float32, name="state"),
    tf.TensorSpec([], tf.int32, name="max_length"),
]
GRU_END = 3  # the end token of the random GRU model: some rows emit it early, some never


def log_of(probabilities):
    """Natural log, with log(0) = -inf and no warning (impossible tokens are part of the tests)."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probabilities, dtype="float64"))


# After the start token the end token is the single most likely choice (0.6), yet A, B, end
# (0.4 * 0.98 * 1.0 = 0.392) is the best path of any length > 1. After the end token a beam that
# is not frozen would go on losing probability, so it would end up below A, B.
TRAP = log_of(
    [
        [0.0, 0.4, 0.0, 0.6],  # after START
        [0.0, 0.0, 0.98, 0.02],  # after A
        [0.0, 0.0, 0.0, 1.0],  # after B
        [0.5, 0.5, 0.0, 0.0],  # after END
    ]
)


def table_step(log_probs):
    """A step whose logits are a fixed row per previous token; the state passes through."""
    table = tf.constant(log_probs, tf.float32)

    def step(tokens, state):
        return tf.gather(table, tokens), state

    return step


def second_order_step(log_probs):
    """Logits log_probs[earlier token, previous token]: the state (a dict) carries the earlier
    token, so beam search must reorder the state with its beams to get the right logits."""
    table = tf.constant(log_probs, tf.float32)

    def step(tokens, state):
        logits = tf.gather_nd(table, tf.stack([state["earlier"], tokens], axis=-1))
        return logits, {"earlier": tokens}

    return step


def penalty(length, alpha):
    """The GNMT length penalty, as the module computes it."""
    return ((5 + length) / 6) ** alpha


def best_by_enumeration(log_probs, earlier, previous, max_length, alpha):
    """The best hypothesis of every sequence there is, scored as beam search scores them: a
    sequence ends at its first END (which counts in its length) or, unfinished, at max_length."""
    best = (-np.inf, None, None)
    for length in range(1, max_length + 1):
        for sequence in itertools.product(range(log_probs.shape[-1]), repeat=length):
            finished = sequence[-1] == END
            if END in sequence[:-1] or (not finished and length < max_length):
                continue
            context, score = (earlier, previous), 0.0
            for token in sequence:
                score += log_probs[context[0], context[1], token]
                context = (context[1], token)
            normalized = score / penalty(length, alpha)
            if normalized > best[0]:
                best = (normalized, list(sequence[:-1] if finished else sequence), score)
    return best[1], best[2]


def padded(tokens, width, pad_id=0):
    """`tokens` followed by pad_id up to `width`, as decoders return them."""
    return list(tokens) + [pad_id] * (width - len(tokens))


def seeded_cell(cell, rng):
    """`cell` built for 4 input features, its weights drawn from `rng` (Keras' own seeded
    initializers give different weights from one call to the next in a process)."""
    cell.build((None, 4))
    cell.set_weights([0.3 * rng.normal(size=weight.shape) for weight in cell.get_weights()])
    return cell


class TinyGRU(tf.Module):
    """A random GRU language model (embedding -> GRUCell -> logits) with exportable decoders."""

    def __init__(self, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.embedding = tf.Variable(rng.normal(size=(VOCABULARY, 4)).astype("float32"))
        self.cell = seeded_cell(keras.layers.GRUCell(UNITS), rng)
        # Large output weights make peaked, tie-free logits.
        self.output_weights = tf.Variable(2 * rng.normal(size=(UNITS, VOCABULARY)).astype("float32"))

    def step(self, tokens, state):
        output, new_state = self.cell(tf.gather(self.embedding, tokens), state)
        return tf.matmul(output, self.output_weights), new_state

    @tf.function(
        input_signature=[
            *DECODER_INPUTS,
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ]
    )
    def generate(self, start_tokens, state, max_length, temperature, top_k, top_p, seed):
        tokens, lengths = decoding.sample(
            self.step, start_tokens, state, max_length, GRU_END, temperature, top_k, top_p, seed
        )
        return {"tokens": tokens, "lengths": lengths}

    @tf.function(
        input_signature=[
            *DECODER_INPUTS,
            tf.TensorSpec([], tf.int32, name="beam_width"),
            tf.TensorSpec([], tf.float32, name="length_penalty"),
        ]
    )
    def translate(self, start_tokens, state, max_length, beam_width, length_penalty):
        tokens, lengths, scores = decoding.beam_search(
            self.step, start_tokens, state, max_length, GRU_END, beam_width, length_penalty
        )
        return {"tokens": tokens, "lengths": lengths, "scores": scores}


@pytest.fixture(scope="module")
def gru():
    return TinyGRU()


def gru_inputs(batch=4, seed=1):
    rng = np.random.default_rng(seed)
    start_tokens = tf.constant(rng.integers(0, VOCABULARY, size=batch), tf.int32)
    state = tf.constant(rng.normal(size=(batch, UNITS)), tf.float32)
    return start_tokens, state


def test_beam_width_one_is_greedy(gru):
    start_tokens, state = gru_inputs(batch=6)
    tokens, lengths = decoding.greedy(gru.step, start_tokens, state, max_length=8, end_id=GRU_END)
    beam_tokens, beam_lengths, _ = decoding.beam_search(
        gru.step, start_tokens, state, max_length=8, end_id=GRU_END, beam_width=1
    )
    np.testing.assert_array_equal(beam_tokens, tokens)
    np.testing.assert_array_equal(beam_lengths, lengths)
    # Some rows end early and some never do, so both cases are compared.
    assert min(lengths.numpy()) < 8 and max(lengths.numpy()) == 8


def random_second_order_table(seed):
    """Random log-probabilities [earlier token, previous token, next token] over 4 tokens."""
    logits = 1.5 * np.random.default_rng(seed).normal(size=(4, 4, 4))
    logits[..., END] += 0.5  # ends often enough that the best hypotheses have several lengths
    return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


# Every (earlier, previous) start context, one per row.
EARLIER, PREVIOUS = zip(*itertools.product(range(4), repeat=2))


@pytest.mark.parametrize("table_seed", [1, 2])
def test_beam_search_equals_exhaustive_search(table_seed):
    """With the state-dependent step, a beam whose state is not reordered with it gets wrong logits,
    so this also checks the reordering (these tables have optima off the top-ranked slot)."""
    log_probs = random_second_order_table(table_seed)
    step = second_order_step(log_probs)
    earlier, previous, max_length = EARLIER, PREVIOUS, 4
    found_lengths = set()
    for alpha in (0.0, 0.6, 2.0):
        # 128 >= the 121 hypotheses the last step can hold: nothing is pruned.
        tokens, lengths, scores = decoding.beam_search(
            step, previous, {"earlier": tf.constant(earlier)}, max_length, END, beam_width=128, length_penalty=alpha
        )
        for row in range(len(previous)):
            expected_tokens, expected_score = best_by_enumeration(log_probs, earlier[row], previous[row], 4, alpha)
            assert tokens[row].numpy().tolist() == padded(expected_tokens, max_length), (alpha, row)
            assert lengths[row] == len(expected_tokens)
            assert scores[row].numpy() == pytest.approx(expected_score, abs=1e-4)
            found_lengths.add(len(expected_tokens))
    assert len(found_lengths) > 2  # the penalty and the table give optima of several lengths


@pytest.mark.parametrize("beam_width", [2, 3])
def test_narrow_beam_returns_a_consistent_hypothesis(beam_width):
    """With pruning (and beams reordered every step) the returned tokens, length and score still
    describe one and the same hypothesis."""
    log_probs = random_second_order_table(2)
    earlier, previous, max_length = EARLIER, PREVIOUS, 5
    tokens, lengths, scores = decoding.beam_search(
        second_order_step(log_probs), previous, {"earlier": tf.constant(earlier)}, max_length, END, beam_width
    )
    for row in range(len(previous)):
        length = int(lengths[row])
        sequence = tokens[row, :length].numpy().tolist() + ([END] if length < max_length else [])
        context, score = (earlier[row], previous[row]), 0.0
        for token in sequence:
            score += log_probs[context[0], context[1], token]
            context = (context[1], token)
        assert scores[row].numpy() == pytest.approx(score, abs=1e-4)
        assert tokens[row, length:].numpy().tolist() == [0] * (max_length - length)


@pytest.mark.parametrize("beam_width", [1, 2, 4])
def test_trap_without_length_penalty_returns_the_empty_hypothesis(beam_width):
    tokens, lengths, scores = decoding.beam_search(
        table_step(TRAP), [START], (), max_length=5, end_id=END, beam_width=beam_width, length_penalty=0.0, pad_id=7
    )
    assert tokens.numpy().tolist() == [[7] * 5]
    assert lengths.numpy().tolist() == [0]
    assert scores.numpy()[0] == pytest.approx(np.log(0.6), abs=1e-6)


def test_trap_with_a_strong_length_penalty_returns_the_longer_hypothesis():
    # log(0.6) / 1 = -0.51 loses to log(0.392) / (8 / 6) ** 3 = -0.40.
    tokens, lengths, _ = decoding.beam_search(
        table_step(TRAP), [START], (), max_length=5, end_id=END, beam_width=2, length_penalty=3.0, pad_id=7
    )
    assert tokens.numpy().tolist() == [[A, B, 7, 7, 7]]
    assert lengths.numpy().tolist() == [2]


@pytest.mark.parametrize(
    ("after_a", "alpha", "expected_tokens", "expected_score"),
    [
        # A, B, END finishes at step 3, two steps after the empty hypothesis.
        ([0.0, 0.0, 0.98, 0.02], 0.0, [], np.log(0.6)),
        ([0.0, 0.0, 0.98, 0.02], 3.0, [A, B], np.log(0.4 * 0.98)),
        # A never ends: the other beam runs all 6 steps while the finished one waits.
        ([0.0, 0.99, 0.01, 0.0], 0.0, [], np.log(0.6)),
    ],
)
def test_finished_beams_are_frozen(after_a, alpha, expected_tokens, expected_score):
    table = TRAP.copy()
    table[A] = log_of(after_a)
    table[B] = log_of([0.0, 0.0, 0.0, 1.0])
    tokens, lengths, scores = decoding.beam_search(
        table_step(table), [START, START], (), max_length=6, end_id=END, beam_width=3, length_penalty=alpha
    )
    for row in range(2):
        assert tokens[row].numpy().tolist() == padded(expected_tokens, 6)
        assert lengths[row] == len(expected_tokens)
        assert scores[row].numpy() == pytest.approx(expected_score, abs=1e-6)


def test_sampling_is_reproducible_and_the_cuts_reduce_to_greedy(gru):
    start_tokens, state = gru_inputs(batch=8)

    def run(**settings):
        return decoding.sample(gru.step, start_tokens, state, 10, end_id=GRU_END, **settings)

    first, second, other = run(seed=(3, 4)), run(seed=(3, 4)), run(seed=(5, 6))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])
    greedy_tokens, greedy_lengths = decoding.greedy(gru.step, start_tokens, state, 10, end_id=GRU_END)
    for settings in [{"top_k": 1}, {"top_p": 1e-6}, {"temperature": 0.0}, {"temperature": -1.0, "top_k": 3}]:
        tokens, lengths = run(seed=(3, 4), **settings)
        np.testing.assert_array_equal(tokens, greedy_tokens, err_msg=str(settings))
        np.testing.assert_array_equal(lengths, greedy_lengths, err_msg=str(settings))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"temperature": 1.0}, [0.5, 0.3, 0.15, 0.05]),
        ({"temperature": 0.5}, np.array([0.5, 0.3, 0.15, 0.05]) ** 2 / np.sum(np.array([0.5, 0.3, 0.15, 0.05]) ** 2)),
        ({"top_k": 2}, [0.625, 0.375, 0.0, 0.0]),
        # The mass above token 2 is 0.8 >= 0.7, so the nucleus is tokens 0 and 1.
        ({"top_p": 0.7}, [0.625, 0.375, 0.0, 0.0]),
        ({"top_k": 3, "top_p": 0.9}, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0]),
    ],
)
def test_sampling_follows_the_cut_distribution(settings, expected):
    """Token frequencies of 4000 one-step draws from the same row of probabilities."""
    step = table_step(log_of([[0.5, 0.3, 0.15, 0.05]] * 4))
    tokens, _ = decoding.sample(step, tf.zeros([4000], tf.int32), (), max_length=1, seed=(1, 2), **settings)
    frequencies = np.bincount(tokens.numpy()[:, 0], minlength=4) / 4000
    np.testing.assert_allclose(frequencies, expected, atol=0.03)


def test_each_step_draws_afresh():
    """The seed is folded with the step index: the same logits at two steps do not give the same draw."""
    step = table_step(np.zeros([4, 4]))
    tokens, _ = decoding.sample(step, tf.zeros([400], tf.int32), (), max_length=2, seed=(7, 8))
    repeated = np.mean(tokens.numpy()[:, 0] == tokens.numpy()[:, 1])
    assert repeated == pytest.approx(0.25, abs=0.1)


def test_settings_as_tensors_export_and_run_in_a_fresh_process(gru, tmp_path):
    start_tokens, state = gru_inputs(batch=3)
    generate_cases = [
        {"max_length": 6, "temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": [0, 0]},
        {"max_length": 9, "temperature": 1.0, "top_k": 3, "top_p": 0.9, "seed": [1, 2]},
        {"max_length": 4, "temperature": 0.7, "top_k": 0, "top_p": 1.0, "seed": [5, 6]},
    ]
    translate_cases = [
        {"max_length": 6, "beam_width": 1, "length_penalty": 0.0},
        {"max_length": 9, "beam_width": 3, "length_penalty": 0.6},
    ]
    common = {"start_tokens": start_tokens.numpy().tolist(), "state": state.numpy().tolist()}
    requests = [("generate", {**common, **case}) for case in generate_cases]
    requests += [("translate", {**common, **case}) for case in translate_cases]
    expected = []
    for name, request in requests:
        function = getattr(gru, name)
        specs = function.input_signature
        outputs = function(**{spec.name: tf.constant(request[spec.name], spec.dtype) for spec in specs})
        assert outputs["tokens"].shape[1] == request["max_length"]  # the width follows the tensor
        expected.append({key: value.numpy().tolist() for key, value in outputs.items()})
    # One trace serves every setting, and the loop is a graph loop, not unrolled Python.
    assert gru.generate.experimental_get_tracing_count() == 1
    assert gru.translate.experimental_get_tracing_count() == 1
    graph = gru.translate.get_concrete_function().graph
    assert any(operation.type in ("While", "StatelessWhile") for operation in graph.get_operations())
    # Saving fails on a function that uses an untracked variable, so this also checks the step's
    # variables (the GRU cell's and the module's own) are tracked by the module.
    tf.saved_model.save(
        gru, str(tmp_path / "export"), signatures={"generate": gru.generate, "translate": gru.translate}
    )
    script = (
        "import json, sys\n"
        "import tensorflow as tf\n"
        "export = tf.saved_model.load(sys.argv[1])\n"
        "results = []\n"
        "for name, request in json.loads(sys.stdin.read()):\n"
        "    function = export.signatures[name]\n"
        "    specs = function.structured_input_signature[1]\n"
        "    inputs = {key: tf.constant(value, specs[key].dtype) for key, value in request.items()}\n"
        "    outputs = function(**inputs)\n"
        "    results.append({key: value.numpy().tolist() for key, value in outputs.items()})\n"
        "print(json.dumps(results))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "export")],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for got, want in zip(loaded, expected, strict=True):
        assert got["tokens"] == want["tokens"] and got["lengths"] == want["lengths"]
        if "scores" in want:
            np.testing.assert_allclose(got["scores"], want["scores"], rtol=1e-5)


def test_the_state_is_carried(gru):
    start_tokens, state = gru_inputs(batch=4)
    from_state, _ = decoding.greedy(gru.step, start_tokens, state, 6)
    from_zeros, _ = decoding.greedy(gru.step, start_tokens, tf.zeros_like(state), 6)
    assert not np.array_equal(from_state, from_zeros)


def lstm_step(structure):
    """A random LSTM step whose state is (h, c) as a tuple, or a dict that also holds a
    per-row rank-3 memory (like an encoder's outputs) added to the logits."""
    cell = seeded_cell(keras.layers.LSTMCell(UNITS), np.random.default_rng(3))
    embedding = tf.constant(np.random.default_rng(0).normal(size=(VOCABULARY, 4)), tf.float32)
    output_weights = tf.constant(3 * np.random.default_rng(1).normal(size=(UNITS, VOCABULARY)), tf.float32)

    def step(tokens, state):
        h, c = (state["h"], state["c"]) if structure == "dict" else state
        output, (h, c) = cell(tf.gather(embedding, tokens), [h, c])
        logits = tf.matmul(output, output_weights)
        if structure == "dict":
            logits += tf.reduce_mean(tf.matmul(state["memory"], output_weights), axis=1)
            return logits, {"h": h, "c": c, "memory": state["memory"]}
        return logits, (h, c)

    return step


def lstm_state(structure, batch, c_scale=1.0):
    rng = np.random.default_rng(2)
    h = tf.constant(rng.normal(size=(batch, UNITS)), tf.float32)
    c = tf.constant(c_scale * rng.normal(size=(batch, UNITS)), tf.float32)
    if structure == "dict":
        return {"h": h, "c": c, "memory": tf.constant(rng.normal(size=(batch, 3, UNITS)), tf.float32)}
    return (h, c)


@pytest.mark.parametrize("structure", ["tuple", "dict"])
def test_a_nested_state_works_in_greedy_and_beam_search(structure):
    step, start_tokens = lstm_step(structure), tf.constant([0, 2, 4, 5])
    tokens, lengths = decoding.greedy(step, start_tokens, lstm_state(structure, 4), 7, end_id=GRU_END)
    beam_tokens, beam_lengths, _ = decoding.beam_search(
        step, start_tokens, lstm_state(structure, 4), 7, GRU_END, beam_width=1
    )
    np.testing.assert_array_equal(beam_tokens, tokens)
    np.testing.assert_array_equal(beam_lengths, lengths)
    wide_tokens, _, wide_scores = decoding.beam_search(
        step, start_tokens, lstm_state(structure, 4), 7, GRU_END, beam_width=3
    )
    assert wide_tokens.shape == (4, 7) and wide_scores.shape == (4,)
    # Traced with Python settings (static shapes throughout) it decodes the same as eagerly.
    traced = tf.function(lambda: decoding.beam_search(step, start_tokens, lstm_state(structure, 4), 7, GRU_END, 3))
    traced_tokens, _, traced_scores = traced()
    np.testing.assert_array_equal(traced_tokens, wide_tokens)
    np.testing.assert_allclose(traced_scores, wide_scores, rtol=1e-5)
    # Only c differs, and the output changes: the second state tensor is carried too.
    other_c, _ = decoding.greedy(step, start_tokens, lstm_state(structure, 4, c_scale=-3.0), 7, end_id=GRU_END)
    assert not np.array_equal(other_c, tokens)


def test_edge_lengths():
    step = table_step(TRAP)
    tokens, lengths = decoding.greedy(step, [START, A], (), max_length=0, end_id=END)
    assert tokens.shape == (2, 0) and lengths.numpy().tolist() == [0, 0]
    tokens, lengths, scores = decoding.beam_search(step, [START, A], (), max_length=0, end_id=END)
    assert tokens.shape == (2, 0) and lengths.numpy().tolist() == [0, 0] and scores.numpy().tolist() == [0, 0]
    # end_id < 0: no end token, so every row runs max_length steps (here through the "end" token 3).
    tokens, lengths = decoding.greedy(step, [START], (), max_length=4)
    assert tokens.numpy().tolist() == [[END, START, END, START]] and lengths.numpy().tolist() == [4]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda step: decoding.beam_search(step, [0], (), 3, END, beam_width=0), "beam_width must be >= 1, got 0"),
        (lambda step: decoding.beam_search(step, [0], (), -1, END), "max_length must be >= 0, got -1"),
        (lambda step: decoding.sample(step, [0], (), -2), "max_length must be >= 0, got -2"),
        (lambda step: decoding.sample(step, [0], (), 3, top_p=0.0), "top_p must be in (0, 1], got 0.0"),
        (lambda step: decoding.sample(step, [0], (), 3, top_p=1.5), "top_p must be in (0, 1], got 1.5"),
        (lambda step: decoding.sample(step, [0], (), 3, seed=(1, 2, 3)), "seed must have shape [2]"),
        (lambda step: decoding.sample(step, [[0]], (), 3), "start_tokens must have shape [batch]"),
    ],
)
def test_bad_python_settings_raise_a_one_line_value_error(call, message):
    with pytest.raises(ValueError) as error:
        call(table_step(TRAP))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_tensor_settings_fail_with_a_clear_message():
    step = table_step(TRAP)
    scalar = tf.TensorSpec([], tf.int32)

    @tf.function(input_signature=[scalar, scalar])
    def search(max_length, beam_width):
        return decoding.beam_search(step, [START], (), max_length, END, beam_width)

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
    def nucleus(top_p):
        return decoding.sample(step, [START], (), 3, top_p=top_p)

    assert search(tf.constant(3), tf.constant(2))[1].numpy().tolist() == [0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="beam_width must be >= 1"):
        search(tf.constant(3), tf.constant(0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length must be >= 0"):
        search(tf.constant(-1), tf.constant(2))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"top_p must be in \(0, 1\]"):
        nucleus(tf.constant(0.0))
