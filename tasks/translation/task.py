"""The translation task: its own settings, and its package's functions bound to the
contract (`common.task`)."""

from common.task import Task
from tasks.translation import config, data, metrics, model, serve


class TranslationTask(Task):
    """Many-to-many, unaligned: an encoder-decoder scored with corpus BLEU and chrF."""

    name = "translation"
    summary = "sentence in, sentence out (encoder-decoder with attention); English -> Spanish Bible verses"
    example_input = ("In the beginning God created the heaven and the earth.",)
    main_metrics = ("bleu", "chrf", "validation_bleu")

    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
    load_data = staticmethod(data.load_data)
    make_datasets = staticmethod(data.make_datasets)
    build_model = staticmethod(model.build_model)
    evaluate = staticmethod(metrics.evaluate)
    signatures = staticmethod(serve.signatures)
    predict = staticmethod(serve.predict)

    def variants(self):
        """What `make compare` trains: each attention, and none."""
        return {f"attention_{attention}": {"attention": attention} for attention in config.ATTENTIONS}

    def callbacks(self, config, data):
        """The attention's health after every epoch (nothing to watch without attention)."""
        return [] if config.attention == "none" else [metrics.AttentionHealth(config, data)]

    def result_line(self, metrics: dict) -> str:
        """Beam and greedy scores, with the BLEU signature sacrebleu asks papers to print."""
        return (
            f"test BLEU {metrics['bleu']:.2f}, chrF {metrics['chrf']:.2f} (beam {metrics['beam_width']}; "
            f"greedy BLEU {metrics['greedy_bleu']:.2f}; copying the source {metrics['copy_source_bleu']:.2f}; "
            f"validation BLEU {metrics['validation_bleu']:.2f}) "
            f"[{metrics['bleu_signature']}]"
        )

    def builtin_sources(self):
        """The aligned Bible: fetching both Debian packages and reading them checks them."""
        return {"bible_en_es": lambda: ", ".join(f"{key}={value}" for key, value in data.read_bible().summary.items())}


TASK = TranslationTask()
