"""A tiny compiled model and dataset for the trainer's, callbacks' and resume's tests."""

import keras
import numpy as np
import tensorflow as tf

from common.config import TrainConfig
from common.optimizers import make_optimizer


def toy_model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", dtype="float32")(inputs))
    model.compile(optimizer=make_optimizer(TrainConfig()), loss="sparse_categorical_crossentropy")
    return model


def toy_data(count=64):
    features = np.random.default_rng(0).normal(size=(count, 4)).astype("float32")
    labels = (features[:, 0] > 0).astype("int32")
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(16)
