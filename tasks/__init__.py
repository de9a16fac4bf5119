"""One module per task. Each exposes the same names: TASK, DATASETS, Config, load_data,
build_model, evaluate, export, train, export_run, predict and fetch_builtin."""

import importlib

from common.errors import UserError

TASKS = ("sentiment", "tagging", "timeseries")


def get_task(name: str):
    """The task module called `name`; an unknown name is an error listing the known ones."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return importlib.import_module(f"tasks.{name}")
