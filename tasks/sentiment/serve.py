"""Sentiment export: raw strings in, class probabilities and names out; and the CLI codec."""

import tensorflow as tf

from common import text
from common.export import answer_texts
from common.task import Signature
from tasks.sentiment.config import Config
from tasks.sentiment.data import Assets, make_encoder


def signatures(model, config: Config, assets: Assets):
    """`serving_default`: `text` (batch of raw strings) -> `probabilities` and `label`.

    Tokenization lives in the graph. Empty text is read as one unknown word; text
    longer than `max_length` tokens is truncated, exactly as in training; a text over
    10,000 characters or a batch over 256 rows is refused (common.limits' defaults).
    """
    encoder = make_encoder(config, assets.vocabulary)
    encoder(tf.constant([""]))  # builds the layer, which tracking requires
    class_names = tf.constant(assets.class_names)

    def classify(texts):
        ragged = encoder.ragged_ids(texts)
        if config.pipeline == "prepadded":
            token_ids = text.pad_in_front(ragged, config.max_length)
        else:
            token_ids = ragged.to_tensor(default_value=text.PADDING_ID)
        probabilities = model(tf.cast(token_ids, tf.int32), training=False)
        return {"probabilities": probabilities, "label": tf.gather(class_names, tf.argmax(probabilities, axis=-1))}

    spec = [tf.TensorSpec([None], tf.string, name="text")]
    names = {"probabilities": list(assets.class_names)}  # in task.json: the page names its bars
    return {"serving_default": Signature(classify, spec, output_labels=names)}, [encoder, model]


def predict(export, texts: list[str]) -> list[dict]:
    """One answer per text: the label and the probability of each class."""
    outputs = answer_texts(export, texts, "classify")
    labels = [label.decode("utf-8") for label in outputs["label"]]
    return [
        {"text": sentence, "label": label, "probabilities": [round(float(p), 4) for p in probabilities]}
        for sentence, label, probabilities in zip(texts, labels, outputs["probabilities"])
    ]
