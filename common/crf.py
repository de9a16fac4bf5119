"""A linear-chain conditional random field (CRF) for sequence tagging, in Keras 3.

Keras 3 has no CRF and tensorflow-addons (which had one) is deprecated, so this module
writes one. The functions take emission scores `[batch, time, tags]`, a boolean mask
`[batch, time]` (right-padded: every row starts with at least one real token) and the
CRF parameters: `transitions[i, j]` scores tag i followed by tag j, `start[j]` scores a
sequence starting with tag j, `end[i]` one ending with tag i.

Both loops run over time with `tf.scan` (a `tf.while_loop`), never a Python loop, so
the forward algorithm (log-partition, for the loss) and Viterbi decoding trace once
for any length and export inside a SavedModel. Padding never counts: a masked step
leaves the running scores unchanged and decodes to tag 0, which callers ignore.
"""

import keras
import tensorflow as tf


def _time_major(tensor):
    """[batch, time, ...] -> [time, batch, ...], for scanning over time."""
    rank = len(tensor.shape)
    return tf.transpose(tensor, [1, 0, *range(2, rank)])


def log_partition(emissions, mask, transitions, start, end):
    """log Z: the log-sum-exp of the scores of every tag path, per sequence ([batch]).

    The forward algorithm: alpha_t(j) = logsumexp_i(alpha_{t-1}(i) + T[i, j]) + e_t(j).
    """
    emissions = tf.cast(emissions, tf.float32)
    steps = tf.range(tf.shape(emissions)[1])

    def step(alpha, inputs):
        emission, valid, index = inputs
        moved = tf.reduce_logsumexp(alpha[:, :, tf.newaxis] + transitions[tf.newaxis], axis=1) + emission
        first = start[tf.newaxis] + emission
        updated = tf.where(index == 0, first, moved)
        # A padded step keeps the scores it had, so padding adds nothing.
        return tf.where(valid[:, tf.newaxis], updated, alpha)

    initial = tf.zeros_like(emissions[:, 0])
    alphas = tf.scan(step, (_time_major(emissions), _time_major(mask), steps), initializer=initial)
    return tf.reduce_logsumexp(alphas[-1] + end[tf.newaxis], axis=1)


def sequence_score(emissions, tags, mask, transitions, start, end):
    """Unnormalized score of the given tag path, per sequence ([batch]); padding ignored."""
    emissions = tf.cast(emissions, tf.float32)
    tags = tf.cast(tags, tf.int32)
    weights = tf.cast(mask, tf.float32)
    emitted = tf.reduce_sum(tf.gather(emissions, tags, batch_dims=2) * weights, axis=1)
    pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)
    moved = tf.reduce_sum(tf.gather_nd(transitions, pairs) * weights[:, 1:], axis=1)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    last_tags = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
    return emitted + moved + tf.gather(start, tags[:, 0]) + tf.gather(end, last_tags)


def log_likelihood(emissions, tags, mask, transitions, start, end):
    """log p(tags | emissions) per sequence: path score minus log-partition."""
    return sequence_score(emissions, tags, mask, transitions, start, end) - log_partition(
        emissions, mask, transitions, start, end
    )


def viterbi_decode(emissions, mask, transitions, start, end):
    """The highest-scoring tag path per sequence and its score: (tags [batch, time], scores [batch]).

    Padded positions decode to tag 0. Forward pass keeps back-pointers; a padded step
    points every tag to itself, so back-tracking from the last column passes through
    the padding unchanged to each row's real last token.
    """
    emissions = tf.cast(emissions, tf.float32)
    num_tags = tf.shape(emissions)[2]
    steps = tf.range(tf.shape(emissions)[1])
    identity = tf.broadcast_to(tf.range(num_tags)[tf.newaxis], tf.shape(emissions[:, 0]))

    def forward(carry, inputs):
        scores, _ = carry
        emission, valid, index = inputs
        candidates = scores[:, :, tf.newaxis] + transitions[tf.newaxis]
        best_previous = tf.argmax(candidates, axis=1, output_type=tf.int32)
        moved = tf.reduce_max(candidates, axis=1) + emission
        updated = tf.where(index == 0, start[tf.newaxis] + emission, moved)
        keep = valid[:, tf.newaxis] & (index > 0)
        return tf.where(valid[:, tf.newaxis], updated, scores), tf.where(keep, best_previous, identity)

    initial = (tf.zeros_like(emissions[:, 0]), identity)
    scores, pointers = tf.scan(forward, (_time_major(emissions), _time_major(mask), steps), initializer=initial)
    final = scores[-1] + end[tf.newaxis]
    best_last = tf.argmax(final, axis=1, output_type=tf.int32)

    def backward(tag, pointer):
        # Emit the tag at this step, then follow its pointer to the previous step.
        return tf.gather(pointer, tag, batch_dims=1)

    # Scanning the reversed pointers from the last tag yields the tags of steps T-2 .. 0 (then
    # step 0 again, through its identity pointer), hence the [:-1].
    previous = tf.scan(backward, tf.reverse(pointers, [0]), initializer=best_last)
    path = tf.concat([best_last[tf.newaxis], previous[:-1]], axis=0)
    tags = tf.transpose(tf.reverse(path, [0]))
    return tf.where(mask, tags, tf.zeros_like(tags)), tf.reduce_max(final, axis=1)


@keras.saving.register_keras_serializable(package="rnn_suite")
class CRF(keras.layers.Layer):
    """Holds the CRF parameters; passes emission scores through unchanged.

    The layer sits at the end of a tagger: its output is the emission scores (without
    a Keras mask, because the loss is per sequence and takes the mask from the
    labels). Train with `negative_log_likelihood`, decode with `decode`.
    """

    def __init__(self, num_tags, **kwargs):
        kwargs.setdefault("dtype", "float32")  # scores stay float32 under mixed precision
        super().__init__(**kwargs)
        self.num_tags = num_tags

    def build(self, input_shape):
        self.transitions = self.add_weight(
            shape=(self.num_tags, self.num_tags), initializer="glorot_uniform", name="transitions"
        )
        self.start_transitions = self.add_weight(shape=(self.num_tags,), initializer="zeros", name="start")
        self.end_transitions = self.add_weight(shape=(self.num_tags,), initializer="zeros", name="end")

    def call(self, emissions):
        return tf.identity(tf.cast(emissions, tf.float32))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape

    def _parameters(self):
        return (
            tf.convert_to_tensor(self.transitions),
            tf.convert_to_tensor(self.start_transitions),
            tf.convert_to_tensor(self.end_transitions),
        )

    def negative_log_likelihood(self, emissions, tags, mask):
        """-log p(tags | emissions) per sequence ([batch])."""
        return -log_likelihood(emissions, tags, mask, *self._parameters())

    def decode(self, emissions, mask):
        """Viterbi: best tag ids [batch, time] (0 at padding) and their scores [batch]."""
        return viterbi_decode(emissions, mask, *self._parameters())

    def get_config(self):
        config = super().get_config()
        config["num_tags"] = self.num_tags
        return config
