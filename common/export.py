"""SavedModels that serve raw inputs, with several named signatures and a `task.json`.

`task.json` sits beside `saved_model.pb` and describes the export without any project
code: the task, each signature's inputs and outputs (dtype and shape), and the suite's
version, so a server can list and explain what it serves.

`make export` and `make predict` start here too: `export_run` rebuilds a finished run's
export from its `model.keras` and `assets.json` alone, `predict` answers from an export.
"""

import json
import os
from pathlib import Path

import keras
import tensorflow as tf

from common import SUITE_VERSION, limits
from common.config import load_config
from common.errors import UserError
from common.failpoints import failpoint
from common.files import atomic_directory, file_lock
from common.task import Task, load_assets

DESCRIPTION_FILE = "task.json"


def write_saved_model(path: Path, signatures: dict, trackables, task_name: str, extra: dict | None = None) -> Path:
    """Write a SavedModel with one signature per entry of `signatures` (name -> `Signature`).

    "serving_default" must be one of them. `trackables` are the layers and models whose
    variables and lookup tables the signatures use. Written to a temporary folder and
    renamed when complete, `task.json` included. Each signature's limits are asserted in
    its graph and written to `task.json`.
    """
    if "serving_default" not in signatures:
        raise ValueError("an export needs a serving_default signature")
    archive = keras.export.ExportArchive()
    for item in trackables:
        archive.track(item)
    described = {}
    for name, signature in signatures.items():
        checked = limits.guarded(signature.function, signature.input_signature, signature.limits)
        function = archive.add_endpoint(name=name, fn=checked, input_signature=signature.input_signature)
        described[name] = describe_signature(function.get_concrete_function(*signature.input_signature))
        described[name]["limits"] = limits.with_defaults(signature.limits)
        if signature.output_labels:
            described[name]["output_labels"] = signature.output_labels
        if signature.padded_outputs:
            described[name]["padded_outputs"] = signature.padded_outputs
    description = {"task": task_name, "suite_version": SUITE_VERSION, "signatures": described, **(extra or {})}
    with atomic_directory(path) as staging:
        archive.write_out(str(staging), verbose=False)
        failpoint("export")  # a crash with half an export written
        (staging / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return Path(path)


def describe_signature(concrete) -> dict:
    """Inputs and outputs of a traced signature as {name: {"dtype", "shape"}} (None: any size)."""

    def spec(tensor) -> dict:
        shape = tensor.shape.as_list() if tensor.shape.rank is not None else None
        return {"dtype": tensor.dtype.name, "shape": shape}

    inputs = {tensor.name: spec(tensor) for tensor in concrete.structured_input_signature[0]}
    outputs = {name: spec(tensor) for name, tensor in concrete.structured_outputs.items()}
    return {"inputs": inputs, "outputs": outputs}


def read_description(export_path: Path) -> dict:
    """The `task.json` of an export."""
    return json.loads((Path(export_path) / DESCRIPTION_FILE).read_text(encoding="utf-8"))


def load_export(export_path: Path):
    """`tf.saved_model.load` of an export folder."""
    return tf.saved_model.load(str(export_path))


def answer_texts(export, texts: list[str], nothing_to: str) -> dict:
    """The `serving_default` outputs of a loaded export for raw texts, as NumPy arrays.
    An empty request is a one-line error saying there is nothing to `nothing_to`."""
    if not texts:
        raise UserError(f'nothing to {nothing_to}: give TEXT="..." (or --text), or lines on standard input')
    outputs = export.signatures["serving_default"](text=tf.constant(texts, dtype=tf.string))
    return {name: value.numpy() for name, value in outputs.items()}


# ---------------------------------------------------------------- a run's export, and answers from one


def write_export(task: Task, model, config, assets, path: Path) -> Path:
    """The run's SavedModel: the task's signatures, raw inputs in, readable answers out."""
    signatures, trackables = task.signatures(model, config, assets)
    return write_saved_model(path, signatures, trackables, task.name)


def export_run(task: Task, run_path: Path, destination: Path) -> Path:
    """`make export`: rebuild a finished run's SavedModel from its model and assets."""
    run_path = Path(run_path)
    config = load_config(task.Config, run_path / "config.json")
    assets = load_assets(task.Assets, run_path / "assets.json")
    model = task.load_model(run_path / "model.keras")
    return write_export(task, model, config, assets, destination)


def export_next_version(task: Task, run_path: Path, model_root: Path) -> Path:
    """`make export`: the run's SavedModel as the next numbered version under `model_root`
    (exports/<task>/, TF Serving's layout): the highest existing number plus one, chosen
    and written under a lock, so two exports at once never take the same number."""
    with file_lock(Path(model_root) / ".lock", wait=True):
        numbers = [int(path.name) for path in Path(model_root).iterdir() if path.name.isdigit()]
        return export_run(task, run_path, Path(model_root) / str(max(numbers, default=0) + 1))


def predict(task: Task, export_path: Path, inputs: list[str]) -> list[dict]:
    """`make predict`: the task's answers from an export, which needs no project code."""
    if not os.path.isdir(export_path):
        raise UserError(f"no SavedModel at {export_path}")
    return task.predict(load_export(export_path), inputs)
