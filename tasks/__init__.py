"""One package per task, the same files in each (config, data, model, metrics, serve,
task); `tasks/<name>/task.py` defines `TASK`, an instance of a `common.task.Task`."""

import importlib

from common.errors import UserError

TASKS = ("sentiment", "tagging", "timeseries")


def get_task(name: str):
    """The `Task` called `name`; an unknown name is an error listing the known ones."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return importlib.import_module(f"tasks.{name}.task").TASK
