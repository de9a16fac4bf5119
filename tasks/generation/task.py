"""The generation task: what is its own; the contract's functions live in this package's
data, model, metrics and serve modules (see `common.task`)."""

from common.task import RECURRENT_VARIANTS, Task
from tasks.generation import config, data, metrics


class GenerationTask(Task):
    name = "generation"
    summary = "a prompt in, a continuation out (one-to-many); a character LSTM on Shakespeare by default"
    example_input = ("ROMEO:",)
    main_metrics = ("bits_per_character", "perplexity", "ngram_perplexity", "bigram_perplexity")
    # The exact perplexity over the whole validation text, which a callback adds each epoch.
    monitor = "val_perplexity"

    def prepare_config(self, options):
        return config.resolve_defaults(options)

    def builtin_sources(self):
        return {
            "shakespeare": lambda: f"{len(data.read_shakespeare().names['train'])} training works",
            "ptb": lambda: f"{sum(len(part[0]) for part in data.read_ptb().documents.values())} characters",
        }

    def callbacks(self, options, loaded):
        extra = [metrics.ExactValidationPerplexity(options, loaded.assets, loaded.ids["validation"])]
        if options.batching == "sequential":
            extra.insert(0, metrics.ResetStates())
        return extra

    def variants(self):
        # A language model must not read the future: no bidirectional rows.
        return dict(RECURRENT_VARIANTS)


TASK = GenerationTask()
