"""One package per task, the same files in each (config, data, model, metrics, serve,
task); `tasks/<name>/task.py` defines `TASK`, an instance of a `common.task.Task`.
A folder here with a `task.py` is a task: adding one needs no edit in this file."""

import importlib
from pathlib import Path

from common.errors import UserError

TASKS = tuple(sorted(folder.name for folder in Path(__file__).parent.iterdir() if (folder / "task.py").is_file()))


def get_task(name: str):
    """The `Task` called `name`; an unknown name is an error listing the known ones."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return importlib.import_module(f"tasks.{name}.task").TASK
