"""Where a run trains and how exactly: the distribution strategy, seeds, op determinism
and float precision, set once at the start of every run (`prepare`)."""

import keras
import tensorflow as tf

from common import distribution


def get_strategy() -> tf.distribute.Strategy:
    """The distribution strategy to build and compile every model under.

    Several workers in `TF_CONFIG`: MultiWorkerMirroredStrategy; several GPUs:
    MirroredStrategy; otherwise the default strategy (CPU or one GPU). The global batch
    is `batch_size` times the replica count. See `common.distribution`.
    """
    return distribution.make_strategy(distribution.read_cluster())


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (the global seed also seeds tf.data's shuffles,
    so the data order is the seed's)."""
    keras.utils.set_random_seed(seed)


def set_determinism(deterministic: bool) -> None:
    """TensorFlow op determinism on (the default) or off. On, the same command gives the
    same result: without it, CPU float sums run in an order that varies with load and
    threads, and two runs of one seed drift apart within a few epochs. Called before any
    op runs, since ops already placed keep their kernels."""
    from tensorflow.python.framework import config as framework_config  # the public API can only enable

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        framework_config.disable_op_determinism()


def set_precision(mixed: bool) -> None:
    """`mixed_float16` when asked (GPU); build output layers with dtype="float32"."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")


def prepare(task, config):
    """Resolved, checked config with seeds and precision set: the start of every run."""
    config = task.prepare_config(config)
    config.validate()
    set_determinism(config.deterministic)
    set_seeds(config.seed)
    set_precision(config.mixed_precision)
    return config
