"""The tagging task: the contract of `common.task` filled in from this package's modules."""

from common.task import Task
from tasks.tagging import config, data, metrics, model, serve


def describe(sentences) -> str:
    tokens = sum(len(sentence) for sentence in sentences.tokens)
    return f"{len(sentences.tokens)} sentences, {tokens} tokens"


class TaggingTask(Task):
    name = "tagging"
    summary = "one tag per token (many-to-many, aligned); WNUT-2016 named entities by default"
    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
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

    def load_data(self, config):
        return data.load_data(config)

    def build_model(self, config, assets):
        return model.build_model(config, assets)

    def make_datasets(self, config, task_data, global_batch_size, input_context=None):
        return data.make_datasets(config, task_data, global_batch_size, input_context)

    def evaluate(self, trained, config, task_data, run_path):
        return metrics.evaluate(trained, config, task_data)

    def signatures(self, trained, config, assets):
        return serve.signatures(trained, config, assets)

    def predict(self, export, inputs):
        return serve.predict(export, inputs)

    def result_line(self, scores):
        line = f"test token accuracy {scores['token_accuracy']:.4f}"
        baseline = scores["baseline"]
        if "f1" in scores:
            line += f", entity F1 {scores['f1']:.4f} (per-word baseline {baseline['f1']:.4f})"
        return line + f"; baseline token accuracy {baseline['token_accuracy']:.4f}"


TASK = TaggingTask()
