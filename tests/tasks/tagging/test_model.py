"""The tagger: padding never counts in scores, loss or decoding."""

import numpy as np
import pytest
import tensorflow as tf

from common.cells import speed_notes
from tasks.tagging import data as tagging_data
from tasks.tagging import model as tagging_model
from tests.tasks.tagging.toy import TOY, toy_config, toy_data


@pytest.mark.parametrize("use_crf, cell", [(True, "lstm"), (False, "lstm"), (True, "tcn"), (False, "peephole_lstm")])
def test_padding_never_counts(use_crf, cell):
    config = toy_config(crf=use_crf, dataset="toy", cell=cell)  # bidirectional: a tcn reads backwards too
    data = toy_data(config, TOY)
    model = tagging_model.build_model(config, data.assets)
    assert speed_notes(model)["cudnn"] == {"lstm": "yes", "tcn": "n/a", "peephole_lstm": "no"}[cell]
    encoder = tagging_data.make_encoder(config, data.assets)
    alone = tf.ragged.constant([["Bob", "lives"]])
    padded = tf.ragged.constant([["Bob", "lives"], ["Ann", "Lee", "likes", "New", "York", "it", "rains"]])
    inputs_alone = tagging_data.select_inputs(encoder.encode_batch(alone), config)
    inputs_padded = tagging_data.select_inputs(encoder.encode_batch(padded), config)
    scores_alone = model(inputs_alone).numpy()
    scores_padded = model(inputs_padded).numpy()
    np.testing.assert_allclose(scores_padded[0, :2], scores_alone[0], atol=1e-5)
    # The loss of a sentence does not change with the padding added after it.
    labels = np.array([[1, 2]], dtype="int32")
    labels_padded = np.array([[1, 2, 0, 0, 0, 0, 0]], dtype="int32")
    loss = model.loss(labels, scores_alone[:1])
    loss_padded = model.loss(labels_padded, scores_padded[:1])
    assert float(loss) == pytest.approx(float(loss_padded), rel=1e-5)
    # Decoded tags at padding are 0 (the padding id), and only real tokens come back.
    assert tagging_model.tag_ragged(model, encoder, config, padded).row_lengths().numpy().tolist() == [2, 7]


def test_a_tcn_tagger_sees_a_whole_training_sentence_each_way():
    config = toy_config(dataset="toy", cell="tcn", max_length=20)
    model = tagging_model.build_model(config, toy_data(config, TOY).assets)
    assert speed_notes(model) == {"cudnn": "n/a", "receptive_field": 29}  # 3 levels cover 20 words
