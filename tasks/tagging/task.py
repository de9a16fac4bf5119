"""The tagging task: what is its own; the contract's functions live in this package's
data, model, metrics and serve modules (see `common.task`)."""

from common.task import Task
from tasks.tagging import data


def describe(sentences) -> str:
    tokens = sum(len(sentence) for sentence in sentences.tokens)
    return f"{len(sentences.tokens)} sentences, {tokens} tokens"


class TaggingTask(Task):
    name = "tagging"
    summary = "one tag per token (many-to-many, aligned); WNUT-2016 named entities by default"
    example_input = ("Obama visited New York last week",)
    main_metrics = ("f1", "token_accuracy")
    # Validation loss is a poor guide in NER (predicting O everywhere scores well): the
    # best epoch is the one with the highest in-graph tag F1.
    monitor = "val_tag_f1"
    monitor_mode = "max"

    def builtin_sources(self):
        return {
            "wnut16": lambda: describe(data.read_wnut16()),
            "wsj_pos": lambda: describe(data.read_wsj_pos()),
        }

    def result_line(self, scores):
        line = f"test token accuracy {scores['token_accuracy']:.4f}"
        baseline = scores["baseline"]
        if "f1" in scores:
            line += f", entity F1 {scores['f1']:.4f} (per-word baseline {baseline['f1']:.4f})"
        return line + f"; baseline token accuracy {baseline['token_accuracy']:.4f}"


TASK = TaggingTask()
