"""Sentiment model: embedding -> dropout -> (bi)RNN stack -> dropout -> softmax."""

import keras

from common.cells import sequence_vector
from common.embedding import word_embedding
from common.optimizers import make_optimizer
from tasks.sentiment.config import Config
from tasks.sentiment.data import Assets


def build_model(config: Config, assets: Assets) -> keras.Model:
    """The compiled classifier over token ids. Build it inside the strategy's scope."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = word_embedding(config, assets.vocabulary)
    if config.pipeline == "prepadded":
        embedding.supports_masking, embedding.mask_zero = False, False  # the common way: no mask
    hidden = keras.layers.Dropout(config.dropout)(embedding(token_ids))
    hidden = sequence_vector(
        hidden, config.cell, config.units, config.num_layers, config.bidirectional, config.pooling, config.max_length
    )
    hidden = keras.layers.Dropout(config.dropout)(hidden)
    # float32 output keeps softmax stable under mixed precision.
    probabilities = keras.layers.Dense(len(assets.class_names), activation="softmax", dtype="float32")(hidden)
    model = keras.Model(token_ids, probabilities, name=f"sentiment_{config.cell}")
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
