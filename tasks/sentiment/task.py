"""The sentiment task: what is its own; the contract's functions live in this package's
data, model, metrics and serve modules (see `common.task`)."""

from common.task import Task
from tasks.sentiment import data


class SentimentTask(Task):
    name = "sentiment"
    summary = "sentence in, class out (many-to-one); MR movie reviews by default"
    example_input = ("a gripping, funny film",)
    main_metrics = ("accuracy", "macro_f1")

    def monitoring(self, config) -> tuple[str, str]:
        """Validation loss (the default) or accuracy picks the best epoch. With a high
        learning rate the loss can bottom out an epoch or two before accuracy peaks."""
        if config.select_by == "accuracy":
            return "val_accuracy", "max"
        return super().monitoring(config)

    def builtin_sources(self):
        return {"mr": lambda: f"{data.read_mr().summary}"}


TASK = SentimentTask()
