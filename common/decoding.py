"""Decoding for generators: sampling (greedy, temperature, top-k, top-p) and beam search.

One layer shared by text generation (a language model) and translation (an encoder-decoder).
Both decode over a step function

    step(tokens, state) -> (logits, new_state)

where `tokens` is int32 [batch] (each row's previous token), `state` any nest (tuple, list,
dict) of tensors whose leading dimension is the batch, and `logits` float [batch, vocabulary].
The step must return a state of the same structure and shapes (a list for a tuple is fine);
a step without state takes and returns `()`. Logits may hold -inf for impossible tokens.

Every loop is a `tf.while_loop` and every setting (max_length, temperature, top_k, top_p,
seed, beam_width, length_penalty) may be a tensor, so one `tf.function` trace serves every
setting and exports in a SavedModel. Settings known in Python are checked at once (a
`UserError`, which is a ValueError); tensor settings by asserts that run with the graph.

Outputs never include the end token: tokens are [batch, max_length] with pad_id at and after
each row's end, and lengths count the tokens before the end token (max_length if none came).

keras-hub's BeamSampler is not used: it keeps extending beams after the end token and has no
length penalty, so it can pick the wrong hypothesis (see `beam_search`).
"""

import numpy as np
import tensorflow as tf

from common.errors import UserError

# A log-probability so low that a hypothesis carrying it never wins, yet finite, so that
# sums and divisions of it never give NaN the way -inf - -inf would.
IMPOSSIBLE = -1e9


def sample(
    step, start_tokens, state, max_length, end_id=-1, temperature=1.0, top_k=0, top_p=1.0, seed=(0, 0), pad_id=0
):
    """Greedy / temperature / top-k / top-p sampling, one token per row and step.

    temperature <= 0 means greedy (argmax; top_k, top_p and seed are then unused); otherwise
    logits are divided by the temperature, cut to the top_k highest (top_k <= 0: no cut), then
    to the nucleus: the fewest most likely tokens whose probability reaches top_p (top_p must be
    in (0, 1]; 1 means no cut; the most likely token always stays, so a tiny top_p is greedy).
    Draws are `tf.random.stateless_categorical` with `seed` (shape [2]) folded with the step
    index, so the same seed gives the same tokens. A row stops after it emits end_id (end_id < 0:
    never stops early, runs max_length steps); the loop stops when every row has.

    Returns (tokens int32 [batch, max_length], end token not included, pad_id after the end;
    lengths int32 [batch] = the number of tokens before the end token).
    """
    start_tokens = _as_tokens(start_tokens)
    max_length = _checked(max_length, tf.int32, lambda value: value >= 0, "max_length must be >= 0")
    top_p = _checked(top_p, tf.float32, lambda value: (value > 0) & (value <= 1), "top_p must be in (0, 1]")
    temperature = tf.cast(temperature, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    seed = _as_seed(seed)
    end_id = tf.cast(end_id, tf.int32)
    pad_id = tf.cast(pad_id, tf.int32)
    batch_size = tf.shape(start_tokens)[0]

    def choose(logits, index):
        logits = tf.cast(logits, tf.float32)
        # tf.cond runs only the chosen branch: greedy decoding never sorts or draws.
        return tf.cond(
            temperature > 0,
            lambda: _draw(logits, temperature, top_k, top_p, tf.random.experimental.stateless_fold_in(seed, index)),
            lambda: tf.argmax(logits, axis=-1, output_type=tf.int32),
        )

    def keep_going(index, tokens, state, finished, lengths, history):
        return (index < max_length) & ~tf.reduce_all(finished)

    def body(index, tokens, state, finished, lengths, history):
        logits, new_state = step(tokens, state)
        # A row that has ended emits padding; its step outputs are ignored.
        chosen = tf.where(finished, pad_id, choose(logits, index))
        ended = ~finished & tf.equal(chosen, end_id)
        lengths += tf.cast(~finished & ~ended, tf.int32)
        history = history.write(index, chosen)
        return index + 1, _like(tokens, chosen), _like(state, new_state), finished | ended, lengths, history

    initial = (
        tf.constant(0),
        start_tokens,
        state,
        tf.zeros([batch_size], tf.bool),
        tf.zeros([batch_size], tf.int32),
        tf.TensorArray(tf.int32, size=max_length, element_shape=start_tokens.shape),
    )
    steps_run, _, _, _, lengths, history = tf.while_loop(keep_going, body, initial)
    tokens = tf.transpose(_written_steps(history, steps_run, tf.zeros([0, batch_size], tf.int32)))
    return _pad_after_end(tokens, lengths, max_length, pad_id), lengths


def greedy(step, start_tokens, state, max_length, end_id=-1, pad_id=0):
    """Greedy decoding: the most likely token at every step (`sample` with temperature 0).

    Returns (tokens int32 [batch, max_length], lengths int32 [batch]) as `sample` does.
    """
    return sample(step, start_tokens, state, max_length, end_id=end_id, temperature=0.0, pad_id=pad_id)


def beam_search(step, start_tokens, state, max_length, end_id, beam_width=4, length_penalty=0.6, pad_id=0):
    """Beam search: the beam_width best hypotheses per row, the best one returned.

    The state (every tensor in the nest) is tiled across beams inside, and reordered by each
    beam's parent at every step (one tf.gather over batch * beam). A beam that emits end_id is
    FROZEN: later steps add nothing to its score and it keeps its slot, so a finished hypothesis
    is never lost; the unfinished beams keep competing for the other slots (the live beam shrinks
    as hypotheses finish). All unfinished candidates of a step have the same length, so they are
    ranked by log-probability; the final hypotheses, finished or not, are ranked by
    log-probability / ((5 + length) / 6) ** length_penalty (GNMT; 0 = no penalty; length counts
    the end token). Stops when every beam of every row is finished (or hopeless: an
    impossible continuation, as when beam_width exceeds the hypotheses there are) or after
    max_length steps. end_id < 0 means no end token: every hypothesis runs max_length steps.

    Returns (tokens int32 [batch, max_length] of the best hypothesis per row, end token not
    included, pad_id after it; lengths int32 [batch]; scores float32 [batch] = the best
    hypothesis' total log-probability).
    """
    start_tokens = _as_tokens(start_tokens)
    max_length = _checked(max_length, tf.int32, lambda value: value >= 0, "max_length must be >= 0")
    beam_width = _checked(beam_width, tf.int32, lambda value: value >= 1, "beam_width must be >= 1")
    length_penalty = tf.cast(length_penalty, tf.float32)
    end_id = tf.cast(end_id, tf.int32)
    pad_id = tf.cast(pad_id, tf.int32)
    batch_size = tf.shape(start_tokens)[0]
    # Beam k of row b lives at flat index b * beam_width + k: the order tf.repeat gives.
    row_offsets = tf.range(batch_size)[:, tf.newaxis] * beam_width

    def keep_going(index, tokens, state, log_probs, lengths, finished, token_history, parent_history):
        hopeless = log_probs < IMPOSSIBLE / 2
        return (index < max_length) & ~tf.reduce_all(finished | hopeless)

    def body(index, tokens, state, log_probs, lengths, finished, token_history, parent_history):
        logits, new_state = step(tokens, state)
        step_log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        step_log_probs = tf.reshape(step_log_probs, [batch_size, beam_width, -1])
        parents, next_tokens, log_probs, lengths, finished = _advance_beams(
            step_log_probs, log_probs, lengths, finished, end_id
        )
        # Each beam carries on from its parent's state.
        flat_parents = tf.reshape(parents + row_offsets, [-1])
        new_state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, flat_parents), _like(state, new_state))
        token_history = token_history.write(index, next_tokens)
        parent_history = parent_history.write(index, parents)
        next_tokens = _like(tokens, tf.reshape(next_tokens, [-1]))
        return index + 1, next_tokens, new_state, log_probs, lengths, finished, token_history, parent_history

    # Only the first beam starts alive; copies of it would fill the beam with duplicates.
    first_beam_only = tf.where(tf.range(beam_width) == 0, 0.0, IMPOSSIBLE)
    initial = (
        tf.constant(0),
        tf.repeat(start_tokens, beam_width),
        tf.nest.map_structure(lambda tensor: tf.repeat(tensor, beam_width, axis=0), state),
        tf.tile(first_beam_only[tf.newaxis], [batch_size, 1]),
        tf.zeros([batch_size, beam_width], tf.int32),
        tf.zeros([batch_size, beam_width], tf.bool),
        tf.TensorArray(tf.int32, size=max_length),
        tf.TensorArray(tf.int32, size=max_length),
    )
    loop_outputs = tf.while_loop(keep_going, body, initial)
    steps_run, _, _, log_probs, lengths, finished, token_history, parent_history = loop_outputs

    best = tf.argmax(log_probs / _length_penalty(lengths, length_penalty), axis=1, output_type=tf.int32)
    tokens = tf.cond(
        steps_run > 0,
        lambda: _backtrack(token_history.gather(tf.range(steps_run)), parent_history.gather(tf.range(steps_run)), best),
        lambda: tf.zeros([batch_size, 0], tf.int32),
    )
    # Hypothesis lengths count the end token; returned lengths do not.
    lengths = tf.gather(lengths, best, batch_dims=1) - tf.cast(tf.gather(finished, best, batch_dims=1), tf.int32)
    scores = tf.gather(log_probs, best, batch_dims=1)
    return _pad_after_end(tokens, lengths, max_length, pad_id), lengths, scores


def _advance_beams(step_log_probs, log_probs, lengths, finished, end_id):
    """One beam step: the live slots take the best continuations, frozen slots stay put.

    step_log_probs [batch, beam, vocabulary]; log_probs, lengths (counting the end token) and
    finished [batch, beam]. Returns (parents, tokens, log_probs, lengths, finished), each
    [batch, beam], for the next step.
    """
    beam_width = tf.shape(log_probs)[1]
    vocabulary_size = tf.shape(step_log_probs)[2]
    candidates = log_probs[:, :, tf.newaxis] + step_log_probs
    # Finished beams offer no continuation: they keep their own slot instead.
    candidates = tf.where(finished[:, :, tf.newaxis], IMPOSSIBLE, candidates)
    candidates = tf.reshape(candidates, [tf.shape(log_probs)[0], -1])
    best_log_probs, best_candidates = tf.math.top_k(candidates, k=beam_width)
    # The j-th live slot of a row (in slot order) takes the row's j-th best continuation.
    live_rank = tf.cumsum(tf.cast(~finished, tf.int32), axis=1, exclusive=True)
    picked = tf.gather(best_candidates, live_rank, batch_dims=1)
    slots = tf.broadcast_to(tf.range(beam_width), tf.shape(finished))
    parents = tf.where(finished, slots, picked // vocabulary_size)
    tokens = tf.where(finished, end_id, picked % vocabulary_size)
    log_probs = tf.where(finished, log_probs, tf.gather(best_log_probs, live_rank, batch_dims=1))
    lengths = tf.where(finished, lengths, tf.gather(lengths, parents, batch_dims=1) + 1)
    finished = finished | tf.equal(tokens, end_id)
    return parents, tokens, log_probs, lengths, finished


def _backtrack(token_history, parent_history, last_beams):
    """Follow parent pointers from the last step to the first.

    token_history and parent_history are [steps, batch, beam]; last_beams [batch] the beam
    chosen at the last step. Returns that beam's tokens, [batch, steps].
    """

    def previous(carry, entries):
        beams, _ = carry
        tokens, parents = entries
        return tf.gather(parents, beams, batch_dims=1), tf.gather(tokens, beams, batch_dims=1)

    initial = (last_beams, tf.zeros_like(last_beams))
    _, tokens = tf.scan(previous, (token_history, parent_history), initializer=initial, reverse=True)
    return tf.transpose(tokens)


def _length_penalty(lengths, alpha):
    """The GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al., 2016); 1 when alpha is 0."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def _draw(logits, temperature, top_k, top_p, seed):
    """One token per row, drawn from the tempered logits cut to top-k and to the nucleus."""
    logits = logits / temperature
    # Both cuts sort the vocabulary, so each runs only when asked for.
    logits = tf.cond(top_k > 0, lambda: _top_k_cut(logits, top_k), lambda: logits)
    logits = tf.cond(top_p < 1, lambda: _nucleus_cut(logits, top_p), lambda: logits)
    return tf.reshape(tf.random.stateless_categorical(logits, 1, seed, dtype=tf.int32), [-1])


def _top_k_cut(logits, top_k):
    """Logits with all but the top_k highest per row set to -inf (ties with the k-th stay)."""
    top_k = tf.minimum(top_k, tf.shape(logits)[-1])
    kth_highest = tf.math.top_k(logits, k=top_k).values[:, -1:]
    return tf.where(logits < kth_highest, -np.inf, logits)


def _nucleus_cut(logits, top_p):
    """Logits outside the nucleus set to -inf: the nucleus is the fewest most likely tokens whose
    probability reaches top_p (Holtzman et al., 2020). The most likely token always stays."""
    descending = tf.sort(logits, axis=-1, direction="DESCENDING")
    # Probability mass of the tokens ranked above each token: it is in the nucleus while below top_p.
    mass_before = tf.cumsum(tf.nn.softmax(descending), axis=-1, exclusive=True)
    lowest_kept = tf.reduce_min(tf.where(mass_before < top_p, descending, np.inf), axis=-1, keepdims=True)
    return tf.where(logits < lowest_kept, -np.inf, logits)


def _written_steps(history, steps_run, empty):
    """The first steps_run entries of a TensorArray; `empty` when none were written (max_length 0),
    since an empty TensorArray of unknown element shape cannot be stacked."""
    return tf.cond(steps_run > 0, lambda: history.gather(tf.range(steps_run)), lambda: empty)


def _pad_after_end(tokens, lengths, max_length, pad_id):
    """[batch, steps run] -> [batch, max_length], with pad_id from each row's length on (which
    also hides the end token and the steps after the loop stopped early)."""
    width = tf.shape(tokens)[1]
    tokens = tf.pad(tokens, [[0, 0], [0, max_length - width]], constant_values=pad_id)
    positions = tf.range(max_length)[tf.newaxis, :]
    return tf.where(positions < lengths[:, tf.newaxis], tokens, pad_id)


def _like(old, new):
    """`new` in the structure and static shapes of `old`, as tf.while_loop needs of a loop
    variable (a step may return a list for a tuple, or a less specific static shape)."""
    new = tf.nest.pack_sequence_as(old, tf.nest.flatten(new))
    return tf.nest.map_structure(lambda before, after: tf.ensure_shape(after, before.shape), old, new)


def _as_tokens(start_tokens):
    """Start tokens as int32 [batch]."""
    start_tokens = tf.cast(start_tokens, tf.int32)
    if start_tokens.shape.rank not in (None, 1):
        raise UserError(f"start_tokens must have shape [batch], got {start_tokens.shape}")
    return start_tokens


def _as_seed(seed):
    """A stateless random seed: int64 of shape [2]."""
    seed = tf.cast(seed, tf.int64)
    if not seed.shape.is_compatible_with([2]):
        raise UserError(f"seed must have shape [2], got {seed.shape}")
    return seed


def _checked(value, dtype, is_valid, message):
    """`value` as a `dtype` tensor that satisfies `is_valid`.

    A value known in Python (a Python number, a constant, any tensor when eager) is checked now
    and raises a one-line UserError; a graph tensor (a tf.function input) gets an assert that
    runs before the value is used.
    """
    value = tf.cast(value, dtype)
    known = tf.get_static_value(value)
    if known is not None:
        if not np.all(is_valid(known)):
            raise UserError(f"{message}, got {known.tolist()}")
        return value
    assertion = tf.debugging.Assert(is_valid(value), [f"{message}, got", value])
    with tf.control_dependencies([assertion]):
        return tf.identity(value)
