"""The optimizer every task's model compiles with. A module of its own so that model code
needs nothing from the trainer (tasks never import `common.trainer`)."""

import keras


def make_optimizer(config, warmup_steps: int = 0) -> keras.optimizers.Optimizer:
    """Adam with gradient clipping by global norm (on by default: RNNs explode); with
    `warmup_steps`, the learning rate rises linearly from 0 to `config.learning_rate` over
    that many updates and then stays there."""
    learning_rate = config.learning_rate
    if warmup_steps:
        # Keras's cosine schedule for its linear warm-up only: alpha=1 means no decay after it.
        learning_rate = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=1, alpha=1.0, warmup_target=config.learning_rate, warmup_steps=warmup_steps
        )
    return keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=config.clipnorm or None)
