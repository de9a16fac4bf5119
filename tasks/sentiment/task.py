"""The sentiment task: its own settings, and its package's functions bound to the contract
(`common.task`)."""

from common.task import Task
from tasks.sentiment import config, data, metrics, model, serve


class SentimentTask(Task):
    name = "sentiment"
    summary = "sentence in, class out (many-to-one); MR movie reviews by default"
    example_input = ("a gripping, funny film",)
    main_metrics = ("accuracy", "macro_f1")

    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
    load_data = staticmethod(data.load_data)
    cross_validation = staticmethod(data.cross_validation)
    make_datasets = staticmethod(data.make_datasets)
    build_model = staticmethod(model.build_model)
    evaluate = staticmethod(metrics.evaluate)
    signatures = staticmethod(serve.signatures)
    predict = staticmethod(serve.predict)

    def monitoring(self, config) -> tuple[str, str]:
        """Validation loss (the default) or accuracy picks the best epoch. With a high
        learning rate the loss can bottom out an epoch or two before accuracy peaks."""
        if config.select_by == "accuracy":
            return "val_accuracy", "max"
        return super().monitoring(config)

    def builtin_sources(self):
        return {"mr": lambda: f"{data.read_mr().summary}"}


TASK = SentimentTask()
