"""The task contract's shared pieces: assets records, result lines and variants."""

import dataclasses

import pytest

from common.config import TrainConfig
from common.errors import UserError
from common.task import (
    BIDIRECTIONAL_VARIANTS,
    CONTRACT,
    Task,
    load_assets,
    save_assets,
)
from tasks import TASKS, get_task


@dataclasses.dataclass
class ToyAssets:
    vocabulary: list
    class_names: list


def test_assets_round_trip_through_json(tmp_path):
    assets = ToyAssets(["", "[UNK]", "héllo"], ["neg", "pos"])
    save_assets(assets, tmp_path / "assets.json")
    assert load_assets(ToyAssets, tmp_path / "assets.json") == assets


def test_missing_or_damaged_assets_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="assets.json is missing"):
        load_assets(ToyAssets, tmp_path / "assets.json")
    (tmp_path / "assets.json").write_text('{"vocabulary": []}')
    with pytest.raises(UserError, match="damaged or from an older version"):
        load_assets(ToyAssets, tmp_path / "assets.json")
    (tmp_path / "assets.json").write_text('{"vocabulary": [')
    with pytest.raises(UserError, match="damaged"):
        load_assets(ToyAssets, tmp_path / "assets.json")


def test_the_default_result_line_and_variants():
    class Toy(Task):
        main_metrics = ("accuracy", "macro_f1")

    assert Toy().result_line({"accuracy": 0.75, "macro_f1": 0.5, "loss": 1.0}) == (
        "test accuracy 0.7500, test macro_f1 0.5000"
    )
    assert Toy().variants() == BIDIRECTIONAL_VARIANTS


@pytest.mark.parametrize("name", TASKS)
def test_every_task_binds_the_whole_contract_to_its_own_package(name):
    task = get_task(name)
    for part in CONTRACT:
        bound = getattr(type(task), part)
        assert bound is not getattr(Task, part), f"{name} does not bind {part}"
        if callable(bound) and not isinstance(bound, type):
            assert bound.__module__.startswith(f"tasks.{name}."), part  # its own code, found by grep
    assert issubclass(task.Config, TrainConfig) and dataclasses.is_dataclass(task.Assets)
    assert task.datasets and task.main_metrics and task.builtin_sources()


def test_a_task_without_cross_validation_refuses_folds():
    with pytest.raises(UserError, match="timeseries has no cross-validation"):
        get_task("timeseries").cross_validation(None)
    assert get_task("sentiment").cross_validation.__module__ == "tasks.sentiment.data"


def test_the_registry_names_each_task_by_its_own_name():
    assert list(TASKS) == sorted(TASKS) and all(get_task(name).name == name for name in TASKS)
    with pytest.raises(UserError, match="unknown task 'poetry'; choose one of generation, sentiment"):
        get_task("poetry")
