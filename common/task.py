"""The task contract: what every task supplies, written down once.

A task is a package `tasks/<name>/` with the same files in each (config, data, model,
metrics, serve, task) and one `Task` subclass in `task.py` that binds the package's
functions to the contract explicitly, as class attributes (keras-hub's `backbone_cls`
style), so grep and an IDE go from the trainer straight to each task's code:

    class SentimentTask(Task):
        Config = config.Config
        load_data = staticmethod(data.load_data)
        build_model = staticmethod(model.build_model)
        ...

The trainer (`common.trainer`) owns the shape every `make train` shares - run folder,
fit, metrics, plots, model, export, finish - and asks the task only for these parts:

    data    = task.load_data(config)                      # read, clean, split, vocabularies
    model   = task.build_model(config, data.assets)       # compiled, inside the strategy scope
    sets    = task.make_datasets(config, data, global_batch_size, input_context)
    metrics = task.evaluate(model, config, data, run_path)
    export  = task.signatures(model, config, data.assets) # raw inputs in, readable answers out
    answers = task.predict(loaded_export, inputs)         # the CLI's codec for the export

`CONTRACT` lists the parts every task binds. The hooks below them (`prepare_config`,
`callbacks`, `result_line`, `monitoring`, `variants`) have defaults a task may override,
keeping their parameter names. `Assets` is what a finished run keeps to be exported
again without its data (vocabularies, class or tag names, scalers); a task declares its
own small dataclass of JSON values. In the spirit of tensorflow/models'
`core/base_task.py`, without a registry.
"""

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from common.errors import UserError
from common.files import write_text_atomically

PARTS = ("train", "validation", "test")

# The variants `make compare` trains side by side; each overrides the task's defaults.
RECURRENT_VARIANTS = {
    "simple_rnn": {"cell": "simple_rnn", "num_layers": 1},
    "gru": {"cell": "gru", "num_layers": 1},
    "lstm": {"cell": "lstm", "num_layers": 1},
    "stacked_lstm": {"cell": "lstm", "num_layers": 2},
    "peephole_lstm": {"cell": "peephole_lstm", "num_layers": 1},
    "leaky_rnn": {"cell": "leaky_rnn", "num_layers": 1},
    "tcn": {"cell": "tcn", "num_layers": 1},
    "no_recurrence": {"cell": "none", "num_layers": 1},
}
BIDIRECTIONAL_VARIANTS = {
    "simple_rnn": {"cell": "simple_rnn", "bidirectional": False, "num_layers": 1},
    "gru": {"cell": "gru", "bidirectional": False, "num_layers": 1},
    "lstm": {"cell": "lstm", "bidirectional": False, "num_layers": 1},
    "bidirectional_lstm": {"cell": "lstm", "bidirectional": True, "num_layers": 1},
    "stacked_bidirectional_lstm": {"cell": "lstm", "bidirectional": True, "num_layers": 2},
    "peephole_lstm": {"cell": "peephole_lstm", "bidirectional": False, "num_layers": 1},
    "leaky_rnn": {"cell": "leaky_rnn", "bidirectional": False, "num_layers": 1},
    # Causal, one direction: the honest convolutional counterpart of the one-directional RNNs.
    "tcn": {"cell": "tcn", "bidirectional": False, "num_layers": 1},
    "no_recurrence": {"cell": "none", "bidirectional": False, "num_layers": 1},
}


@dataclasses.dataclass
class TaskData:
    """What `load_data` returns; a task subclasses it and adds its parts.

    `assets` is the task's `Assets` record; `summary` one flat dict about the data (printed
    and saved); `splits` the row indices of each part in the source (empty where the
    source fixes the parts); `train_examples` counts training examples for throughput.
    """

    assets: object
    summary: dict
    splits: dict
    train_examples: int


@dataclasses.dataclass
class Signature:
    """One named entry point of an export: a function of tensors and its input signature.

    `padded_outputs` names outputs padded along axis 1 to the longest row of the batch,
    each with the output that holds every row's real length (tagging: tokens and tags by
    length); a server that merges requests cuts each caller's rows back with it.
    `limits` caps what one request may ask (rows, characters, settings, total work); the
    export asserts them in its graph and declares them in `task.json` (see common.limits).
    """

    function: Callable
    input_signature: list
    padded_outputs: dict = dataclasses.field(default_factory=dict)
    limits: dict = dataclasses.field(default_factory=dict)  # caps on a request (common.limits)
    output_labels: dict = dataclasses.field(default_factory=dict)  # output -> names of its values (classes, tags)


# The parts every task binds in its task.py (one test checks each task has them all).
CONTRACT = (
    "Config",
    "Assets",
    "datasets",
    "load_data",
    "make_datasets",
    "build_model",
    "evaluate",
    "signatures",
    "predict",
)


class Task:
    """Base class of every task: the contract's parts, which a subclass binds to its
    package's functions, and the hooks, whose defaults a subclass may override.

    Attributes:
        name: the task's name on the command line (`make train TASK=<name>`).
        summary: one line saying what the task does, for `--help`.
        main_metrics: the held-out metrics `compare` puts side by side.
        monitor, monitor_mode: the validation metric that picks the best epoch and
            stops early, and whether lower ("min") or higher ("max") is better
            (`monitoring` returns them; a task may let its config choose).
        example_input: one raw input for the export (as `make predict` takes it), on
            which `compare` times the export's answer.
        Config: the task's config dataclass (a `common.config.TrainConfig`, config.py).
        Assets: the dataclass of JSON values a run keeps for exporting again (data.py).
        datasets: the built-in and tensorflow-datasets names `dataset=` accepts.
    """

    name: str = ""
    summary: str = ""
    main_metrics: tuple[str, ...] = ()
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    example_input: tuple[str, ...] = ()
    Config: type | None = None
    Assets: type | None = None
    datasets: tuple[str, ...] = ()

    # ------------------------------------------------------------ parts (bound by each task)

    def load_data(self, config) -> TaskData:
        """Read the source `config.dataset` names, clean and split it, and build the
        assets (vocabularies, scalers) from the training part only."""
        raise NotImplementedError(f"{self.name}: load_data")

    def make_datasets(self, config, data: TaskData, global_batch_size: int, input_context=None) -> dict:
        """tf.data pipelines by part name: "train", "validation" and "test".

        With an `input_context` (a distribution strategy's), each pipeline reads only
        its worker's shard and batches `common.pipeline.per_replica_batch(global_batch_size, context)`.
        """
        raise NotImplementedError(f"{self.name}: make_datasets")

    def build_model(self, config, assets) -> "keras.Model":  # noqa: F821
        """The compiled Keras model. The trainer calls it inside the strategy's scope."""
        raise NotImplementedError(f"{self.name}: build_model")

    def evaluate(self, model, config, data: TaskData, run_path: Path) -> dict:
        """Held-out test metrics (JSON values) of the trained model, with any baselines
        measured in the same run; may write plots and tables into `run_path`."""
        raise NotImplementedError(f"{self.name}: evaluate")

    def signatures(self, model, config, assets) -> tuple[dict[str, Signature], list]:
        """The export's named signatures (one is "serving_default") and the trackables
        (layers, models) whose variables and lookup tables they use."""
        raise NotImplementedError(f"{self.name}: signatures")

    def predict(self, export, inputs: list[str]) -> list[dict]:
        """Answers from a loaded export (`tf.saved_model.load`) for the CLI's raw inputs."""
        raise NotImplementedError(f"{self.name}: predict")

    def cross_validation(self, config) -> Iterator[TaskData]:
        """One `TaskData` per fold when `config.folds > 1` (optional: a task that binds
        none refuses `folds=`)."""
        raise UserError(f"{self.name} has no cross-validation (folds=)")

    # ------------------------------------------------------------ hooks (defaults)

    def prepare_config(self, config):
        """The config with data-dependent defaults filled in (default: unchanged)."""
        return config

    def monitoring(self, config) -> tuple[str, str]:
        """(monitor, mode): the validation metric that picks the best epoch for this
        config, and "min" or "max"."""
        return self.monitor, self.monitor_mode

    def builtin_sources(self) -> dict[str, Callable[[], str]]:
        """Built-in dataset name -> a function that fetches it and describes it in a line."""
        raise NotImplementedError(f"{self.name}: builtin_sources")

    def load_model(self, path: Path):
        """A run's saved `model.keras`. The task's task.py imported its model module, so the
        custom layers it defines are registered before Keras looks them up."""
        import keras

        return keras.models.load_model(path, compile=False)

    def callbacks(self, config, data: TaskData) -> list:
        """Extra Keras callbacks for `trainer.fit` (default: none). They run right after the epoch
        timer and before checkpointing, early stopping and the CSV history, so a callback
        that adds a value to the epoch's logs (an exact validation score, say) can be
        monitored and is recorded."""
        return []

    def result_line(self, metrics: dict) -> str:
        """The one line `make train` prints about the held-out result."""
        names = [name for name in self.main_metrics if isinstance(metrics.get(name), float)]
        return ", ".join(f"test {name} {metrics[name]:.4f}" for name in names)

    def variants(self) -> dict[str, dict]:
        """The variants `make compare` may train, as config overrides."""
        return dict(BIDIRECTIONAL_VARIANTS)


# ---------------------------------------------------------------- assets


def save_assets(assets, path: Path) -> None:
    """Write an `Assets` dataclass as JSON (atomically: a resume may read it)."""
    write_text_atomically(path, json.dumps(dataclasses.asdict(assets), ensure_ascii=False, indent=1))


def load_assets(assets_class, path: Path):
    """Read an `Assets` dataclass written by `save_assets`; a missing field is a clear error."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        return assets_class(**{field.name: values[field.name] for field in dataclasses.fields(assets_class)})
    except FileNotFoundError:
        raise UserError(f"{path} is missing: the run was made by an older version; train it again") from None
    except (KeyError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is damaged or from an older version ({error}); train the run again") from None
