"""Input pipelines: the batch a worker makes, its shard of the examples, and the one
length-bucketed tf.data pipeline of every task that batches sequences of varying length
(sentiment, tagging and translation).

Sequences are right-padded with 0 (the condition cuDNN needs with a mask) and batched in
buckets of similar length, with bucket boundaries at length quantiles.
"""

import numpy as np
import tensorflow as tf


def per_replica_batch(global_batch_size: int, input_context=None) -> int:
    """The batch one pipeline makes: the global batch, or its replica's share of it."""
    if input_context is None:
        return global_batch_size
    return input_context.get_per_replica_batch_size(global_batch_size)


def shard(dataset: tf.data.Dataset, input_context=None) -> tf.data.Dataset:
    """Each input pipeline (worker) keeps only its own share of the examples."""
    if input_context is None or input_context.num_input_pipelines == 1:
        return dataset
    return dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def length_boundaries(lengths, bucket_count: int = 8) -> list[int]:
    """Bucket boundaries at length quantiles, so each bucket holds a similar share."""
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        return []
    quantiles = np.quantile(lengths, np.linspace(0, 1, bucket_count + 1)[1:-1])
    return sorted({int(q) + 1 for q in quantiles if q + 1 < lengths.max() + 1})


def as_tensors(*parts):
    """Slices of a ragged tensor come out as ragged specs; identity makes them plain tensors."""
    return tuple(tf.identity(part) for part in parts)


def first_length(first, *rest):
    """The length of an element's first part: what its bucket is chosen by."""
    return tf.shape(first)[0]


def bucketed_batches(
    elements,
    lengths,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    input_context=None,
    boundaries=None,
    length_of=first_length,
    prepare=as_tensors,
    augment=None,
    finish=None,
):
    """Right-padded batches of similar length, from `elements` (a tuple of tensors or
    RaggedTensors, one row per example), read as:

    shard (with a strategy's `input_context`: this worker's share) -> `prepare` (each
    example into the tensors it trains on; by default ragged rows become plain tensors) ->
    cache -> shuffle (seeded, a new order each epoch) -> `augment` (training only; random,
    so after the cache) -> batches grouped by `length_of(example)` into buckets whose
    `boundaries` default to the quantiles of `lengths` (one per example) -> `finish`
    (each batch, e.g. into teacher-forcing inputs and targets) -> prefetch.
    """
    lengths = np.asarray(lengths)
    if boundaries is None:
        boundaries = length_boundaries(lengths)
    dataset = shard(tf.data.Dataset.from_tensor_slices(elements), input_context)
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        dataset = dataset.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
    if augment is not None:
        dataset = dataset.map(augment)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=length_of,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )
    if finish is not None:
        dataset = dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
