"""Tagging export: raw sentences in, tokens and their tags out; and the CLI codec."""

import tensorflow as tf

from common.export import answer_texts
from common.task import Signature
from tasks.tagging.config import Config
from tasks.tagging.data import Assets, make_encoder
from tasks.tagging.model import tag_ragged


def signatures(model, config: Config, assets: Assets):
    """`serving_default`: `text` (batch of raw sentences, split on whitespace in the
    graph) -> `tokens` and `tags` ([batch, longest], strings padded with "") and `length`
    (tokens per sentence). CRF decoding (Viterbi) runs inside the graph; any sentence
    length is tagged whole; an empty sentence gives length 0."""
    encoder = make_encoder(config, assets)
    tag_names = tf.constant(assets.tag_names)

    def tag(sentences):
        tokens = tf.strings.split(sentences)
        tags = tf.gather(tag_names, tag_ragged(model, encoder, config, tokens))
        return {
            "tokens": tokens.to_tensor(default_value=""),
            "tags": tags.to_tensor(default_value=""),
            "length": tf.cast(tokens.row_lengths(), tf.int32),
        }

    spec = [tf.TensorSpec([None], tf.string, name="text")]
    padded = {"tokens": "length", "tags": "length"}
    names = {"tags": list(assets.tag_names[1:])}  # in task.json (without the padding tag): the page's legend
    return {"serving_default": Signature(tag, spec, padded_outputs=padded, output_labels=names)}, [encoder, model]


def predict(export, sentences: list[str]) -> list[dict]:
    """Token/tag pairs per sentence, also written as one `token/TAG ...` string."""
    outputs = answer_texts(export, sentences, "tag")
    answers = []
    for sentence, tokens, tags, length in zip(sentences, outputs["tokens"], outputs["tags"], outputs["length"]):
        tokens = [token.decode("utf-8") for token in tokens[:length]]
        tags = [tag.decode("utf-8") for tag in tags[:length]]
        tagged = " ".join(f"{token}/{tag}" for token, tag in zip(tokens, tags))
        answers.append({"text": sentence, "tokens": tokens, "tags": tags, "tagged": tagged})
    return answers
