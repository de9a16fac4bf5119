"""One package per task, the same files in each (config, data, model, metrics, serve,
task); `tasks/<name>/task.py` defines `TASK`, an instance of a `common.task.Task`.
Adding a task: its package, and one line in `TASKS` below."""

from common.errors import UserError
from tasks.generation.task import TASK as GENERATION
from tasks.sentiment.task import TASK as SENTIMENT
from tasks.tagging.task import TASK as TAGGING
from tasks.timeseries.task import TASK as TIMESERIES
from tasks.translation.task import TASK as TRANSLATION

TASKS = {task.name: task for task in (GENERATION, SENTIMENT, TAGGING, TIMESERIES, TRANSLATION)}


def get_task(name: str):
    """The `Task` called `name`; an unknown name is an error listing the known ones."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
