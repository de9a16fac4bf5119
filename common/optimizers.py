"""The optimizer every task's model compiles with. A module of its own so that model code
needs nothing from the trainer (tasks never import `common.trainer`)."""

import keras


def make_optimizer(config) -> keras.optimizers.Optimizer:
    """Adam with gradient clipping by global norm (on by default: RNNs explode)."""
    return keras.optimizers.Adam(learning_rate=config.learning_rate, global_clipnorm=config.clipnorm or None)
