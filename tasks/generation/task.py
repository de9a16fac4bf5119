"""The generation task: its own settings, and its package's functions bound to the
contract (`common.task`)."""

from common.task import RECURRENT_VARIANTS, Task
from tasks.generation import config, data, metrics, model, serve


class GenerationTask(Task):
    name = "generation"
    summary = "a prompt in, a continuation out (one-to-many); a character LSTM on Shakespeare by default"
    example_input = ("ROMEO:",)
    main_metrics = ("bits_per_character", "perplexity", "ngram_perplexity", "bigram_perplexity")
    # The exact perplexity over the whole validation text, which a callback adds each epoch.
    monitor = "val_perplexity"

    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
    prepare_config = staticmethod(config.resolve_defaults)
    load_data = staticmethod(data.load_data)
    make_datasets = staticmethod(data.make_datasets)
    build_model = staticmethod(model.build_model)
    evaluate = staticmethod(metrics.evaluate)
    signatures = staticmethod(serve.signatures)
    predict = staticmethod(serve.predict)

    def builtin_sources(self):
        return {
            "shakespeare": lambda: f"{len(data.read_shakespeare().names['train'])} training works",
            "ptb": lambda: f"{sum(len(part[0]) for part in data.read_ptb().documents.values())} characters",
        }

    def callbacks(self, config, data):
        extra = [metrics.ExactValidationPerplexity(config, data.assets, data.ids["validation"])]
        if config.batching == "sequential":
            extra.insert(0, metrics.ResetStates())
        return extra

    def variants(self):
        # A language model must not read the future: no bidirectional rows.
        return dict(RECURRENT_VARIANTS)


TASK = GenerationTask()
