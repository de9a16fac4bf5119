"""Tagging model: word (+ character CNN) features -> (bi)RNN stack -> tag scores -> CRF
or softmax, and the decoding shared by evaluation and the export."""

import keras
import tensorflow as tf

from common import crf
from common.cells import recurrent_stack
from common.embedding import word_embedding
from common.optimizers import make_optimizer
from tasks.tagging.config import Config
from tasks.tagging.data import Assets, TokenEncoder, select_inputs


@keras.saving.register_keras_serializable(package="rnn_suite")
class CharacterCNN(keras.layers.Layer):
    """Per word: character embeddings -> 1-D convolution -> max over the word's characters.

    A CNN rather than a character LSTM: padding words have no characters at all, and a
    fully masked row crashes cuDNN. Padded characters are zeroed before the max (the
    ReLU outputs are non-negative, so zeros never win over a real character).
    """

    def __init__(self, alphabet_size, char_dim=25, filters=50, window=3, **kwargs):
        super().__init__(**kwargs)
        self.alphabet_size, self.char_dim, self.filters, self.window = alphabet_size, char_dim, filters, window
        self.embedding = keras.layers.Embedding(alphabet_size, char_dim, name="char_embedding")
        self.convolution = keras.layers.Conv1D(filters, window, padding="same", activation="relu", name="char_conv")

    def build(self, input_shape):
        self.embedding.build((None, input_shape[-1]))
        self.convolution.build((None, input_shape[-1], self.char_dim))

    def call(self, char_ids):
        shape = tf.shape(char_ids)
        flat = tf.reshape(char_ids, [-1, shape[2]])
        features = self.convolution(self.embedding(flat))
        features *= tf.cast(flat > 0, features.dtype)[..., tf.newaxis]
        return tf.reshape(tf.reduce_max(features, axis=1), [shape[0], shape[1], self.filters])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)

    def compute_mask(self, char_ids, mask=None):
        # A real word has at least one character, padding none. Concatenate ORs the masks
        # of its inputs, so without this mask padding would look real to the RNN.
        return char_ids[:, :, 0] > 0

    def get_config(self):
        config = super().get_config()
        config.update(alphabet_size=self.alphabet_size, char_dim=self.char_dim, filters=self.filters)
        config["window"] = self.window
        return config


@keras.saving.register_keras_serializable(package="rnn_suite")
class TagScores(keras.layers.Layer):
    """Passes the softmax head's scores through without a Keras mask: the loss is per
    sentence and takes its mask from the labels (tag id 0 is padding)."""

    def call(self, scores):
        return tf.identity(scores)

    def compute_mask(self, inputs, mask=None):
        return None


class SequenceLoss(keras.losses.Loss):
    """Negative log-likelihood of each sentence's tags, averaged over sentences.

    `y_true` holds tag ids with 0 as padding; padding adds nothing. With a CRF layer:
    the CRF likelihood; without: the sum of per-token softmax cross-entropies.
    """

    def __init__(self, crf_layer=None, name="sequence_nll"):
        super().__init__(name=name, reduction="sum_over_batch_size")
        self.crf_layer = crf_layer

    def call(self, y_true, y_pred):
        tag_ids = tf.cast(tf.round(y_true), tf.int32)
        mask = tag_ids > 0
        targets = tf.maximum(tag_ids - 1, 0)
        if self.crf_layer is not None:
            return self.crf_layer.negative_log_likelihood(y_pred, targets, mask)
        token_losses = keras.losses.sparse_categorical_crossentropy(targets, y_pred, from_logits=True)
        return tf.reduce_sum(token_losses * tf.cast(mask, token_losses.dtype), axis=1)


class TagF1(keras.metrics.Metric):
    """Micro F1 over tokens whose gold or predicted tag is not `O`, decoded as at test
    time (Viterbi with a CRF): an in-graph stand-in for entity F1 that picks the best
    epoch. Validation loss is a poor guide in NER, where predicting `O` everywhere
    scores well. Without an `O` tag (part of speech) it equals token accuracy."""

    def __init__(self, outside_id=-1, crf_layer=None, name="tag_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self._direction = "up"  # early stopping and checkpoints keep the highest value
        self.outside_id, self.crf_layer = outside_id, crf_layer
        self.matched, self.gold, self.predicted = (
            self.add_variable(shape=(), initializer="zeros", name=name) for name in ("matched", "gold", "predicted")
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        tag_ids = tf.cast(tf.round(y_true), tf.int32)
        mask = tag_ids > 0
        predicted = decode_scores(self.crf_layer, y_pred, mask)
        gold_inside = mask & (tag_ids != self.outside_id)
        predicted_inside = mask & (predicted != self.outside_id)
        for variable, flags in (
            (self.matched, gold_inside & (predicted == tag_ids)),
            (self.gold, gold_inside),
            (self.predicted, predicted_inside),
        ):
            variable.assign_add(tf.reduce_sum(tf.cast(flags, "float32")))

    def result(self):
        return 2 * self.matched / tf.maximum(self.gold + self.predicted, 1.0)

    def reset_state(self):
        for variable in (self.matched, self.gold, self.predicted):
            variable.assign(0.0)


def word_features(config: Config, assets: Assets) -> tuple[dict, object]:
    """Model inputs and per-word features: word embedding, plus the character CNN."""
    word_ids = keras.Input(shape=(None,), dtype="int32", name="word_ids")
    embedding = word_embedding(config, assets.vocabulary)
    features = embedding(word_ids)
    if not config.char_features:
        return {"word_ids": word_ids}, features
    char_ids = keras.Input(shape=(None, config.max_word_length), dtype="int32", name="char_ids")
    characters = CharacterCNN(
        len(assets.characters), config.char_dim, config.char_filters, config.char_window, name="char_cnn"
    )(char_ids)
    return {"word_ids": word_ids, "char_ids": char_ids}, keras.layers.Concatenate()([features, characters])


def build_model(config: Config, assets: Assets) -> keras.Model:
    """Word (+ character) features -> dropout -> (bi)RNN stack -> dropout -> tag scores
    -> CRF or softmax, compiled. Build it inside the distribution strategy's scope."""
    inputs, features = word_features(config, assets)
    hidden = keras.layers.Dropout(config.dropout)(features)
    hidden = recurrent_stack(
        hidden,
        config.cell,
        config.units,
        config.num_layers,
        config.bidirectional,
        return_sequences=True,
        context=config.max_length,
    )
    hidden = keras.layers.Dropout(config.dropout)(hidden)
    # float32 scores keep the softmax / CRF stable under mixed precision.
    scores = keras.layers.Dense(len(assets.tag_names) - 1, dtype="float32", name="emissions")(hidden)
    if config.crf:
        head = crf.CRF(len(assets.tag_names) - 1, name="crf")
        outputs, loss = head(scores), SequenceLoss(head)
    else:
        outputs, loss = TagScores(name="tag_scores", dtype="float32")(scores), SequenceLoss()
    model = keras.Model(inputs, outputs, name=f"tagger_{config.cell}{'_crf' if config.crf else ''}")
    outside_id = assets.tag_names.index("O") if "O" in assets.tag_names else -1
    metric = TagF1(outside_id, model.get_layer("crf") if config.crf else None)
    model.compile(optimizer=make_optimizer(config), loss=loss, metrics=[metric])
    return model


def decode_scores(crf_layer, scores, mask):
    """Tag ids [batch, time] from scores: Viterbi with a CRF layer, else per-token argmax; 0 at padding."""
    if crf_layer is not None:
        best, _ = crf_layer.decode(scores, mask)
    else:
        best = tf.argmax(scores, axis=-1, output_type=tf.int32)
    return tf.where(mask, best + 1, 0)


def decode(model, config: Config, scores, mask):
    """`decode_scores` with the model's own CRF layer, if it has one."""
    return decode_scores(model.get_layer("crf") if config.crf else None, scores, mask)


def tag_ragged(model, encoder: TokenEncoder, config: Config, tokens):
    """Ragged tokens [batch, (time)] -> ragged tag ids, one per token (empty rows stay empty)."""
    inputs = encoder.encode_batch(tokens)
    scores = model(select_inputs(inputs, config), training=False)
    ids = decode(model, config, scores, inputs["word_ids"] > 0)
    return tf.RaggedTensor.from_tensor(ids, lengths=tokens.row_lengths())
