"""The sentiment task: the contract of `common.task` filled in from this package's modules."""

from common.task import Task
from tasks.sentiment import config, data, metrics, model, serve


class SentimentTask(Task):
    name = "sentiment"
    summary = "sentence in, class out (many-to-one); MR movie reviews by default"
    Config = config.Config
    Assets = data.Assets
    datasets = config.DATASETS
    main_metrics = ("accuracy", "macro_f1")

    def builtin_sources(self):
        return {"mr": lambda: f"{data.read_mr().summary}"}

    def load_data(self, config):
        return data.load_data(config)

    def cross_validation(self, config):
        return data.cross_validation(config)

    def build_model(self, config, assets):
        return model.build_model(config, assets)

    def make_datasets(self, config, task_data, global_batch_size, input_context=None):
        return data.make_datasets(config, task_data, global_batch_size, input_context)

    def evaluate(self, trained, config, task_data, run_path):
        test = data.make_datasets(config, task_data, config.batch_size)["test"]
        return metrics.evaluate(trained, test, task_data.assets.class_names)

    def signatures(self, trained, config, assets):
        return serve.signatures(trained, config, assets)

    def predict(self, export, inputs):
        return serve.predict(export, inputs)


TASK = SentimentTask()
