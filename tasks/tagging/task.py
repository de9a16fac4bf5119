"""The tagging task: its own settings, and its package's functions bound to the contract
(`common.task`)."""

from common.task import Task
from tasks.tagging import config, data, metrics, model, serve


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

    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
    load_data = staticmethod(data.load_data)
    make_datasets = staticmethod(data.make_datasets)
    build_model = staticmethod(model.build_model)
    evaluate = staticmethod(metrics.evaluate)
    signatures = staticmethod(serve.signatures)
    predict = staticmethod(serve.predict)

    def builtin_sources(self):
        return {
            "wnut16": lambda: describe(data.read_wnut16()),
            "wsj_pos": lambda: describe(data.read_wsj_pos()),
        }

    def result_line(self, metrics):
        line = f"test token accuracy {metrics['token_accuracy']:.4f}"
        baseline = metrics["baseline"]
        if "f1" in metrics:
            line += f", entity F1 {metrics['f1']:.4f} (per-word baseline {baseline['f1']:.4f})"
        return line + f"; baseline token accuracy {baseline['token_accuracy']:.4f}"


TASK = TaggingTask()
