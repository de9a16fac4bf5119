"""Input pipelines: a worker's batch and shard, and the length-bucketed batches."""

import numpy as np
import tensorflow as tf

from common import pipeline


def test_each_input_pipeline_reads_its_own_share():
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=4)
    assert pipeline.per_replica_batch(64, context) == 16 and pipeline.per_replica_batch(64) == 64
    dataset = tf.data.Dataset.range(10)
    assert list(pipeline.shard(dataset, context).as_numpy_iterator()) == [1, 3, 5, 7, 9]
    assert len(list(pipeline.shard(dataset).as_numpy_iterator())) == 10


def test_bucketed_batches_are_right_padded_grouped_and_keep_labels():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=200)
    rows = [list(range(1, length + 1)) for length in lengths]  # row i: 1..length, so length = label
    ids = tf.ragged.constant(rows, dtype=tf.int64)
    labels = tf.constant(lengths, dtype=tf.int32)
    padded_cells = 0
    seen = 0
    for batch_ids, batch_labels in pipeline.bucketed_batches(
        (ids, labels), ids.row_lengths().numpy(), batch_size=16, shuffle=True, seed=1
    ):
        batch_ids = batch_ids.numpy()
        real = (batch_ids != 0).sum(axis=1)
        assert real.tolist() == batch_labels.numpy().tolist()  # labels stay with their rows
        for row, length in zip(batch_ids, real):
            assert (row[:length] != 0).all() and (row[length:] == 0).all()  # padding at the end
        padded_cells += batch_ids.size
        seen += len(batch_ids)
    assert seen == 200
    # Bucketing pads far less than padding everything to the longest row.
    assert padded_cells < 0.7 * 200 * lengths.max()
